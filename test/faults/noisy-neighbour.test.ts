import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../edge/app.js';
import { SageMakerInvoker } from '../../edge/invoke/sagemaker.js';
import { serveApp, type RunningServer } from '../../edge/runtime/serve.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/endpoint/server.js';
import { parseGatewayConfig } from '../../shared/config/load.js';
import { pacedEngine } from '../helpers/paced-engine.js';
import { bearer, identityHarness, type IdentityHarness } from '../edge/auth/harness.js';

/**
 * The hostile-neighbour scenario over real sockets: one tenant holds 16 long generations (all
 * within its limits) on a model with 4 engine slots; another tenant's short request must then wait
 * about one slot turnover, not for the whole queue ahead of it.
 */
const TOKEN_MS = 25;
const LONG = 40; // about 1 s per long generation
const SHORT = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An engine that spends TOKEN_MS per output token, streamed or not. */
const engine = pacedEngine(TOKEN_MS);

let h: IdentityHarness;
let endpoint: LocalEndpoint;
let gateway: RunningServer;

beforeAll(async () => {
  h = await identityHarness();
  endpoint = await startLocalEndpoint({ port: 0, backends: { engine } });
  const config = parseGatewayConfig({
    models: [
      {
        id: 'llm',
        kind: 'chat',
        policy: 'admit',
        endpoint: 'engine',
        dedupe: false,
        limits: { maxTokens: 100, defaultMaxTokens: 16 },
        admit: { maxConcurrency: 4, maxQueue: 64, queueTimeoutMs: 30_000 },
      },
    ],
  });
  const invoker = new SageMakerInvoker({
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { app } = createApp({ config, invoker, auth: { mode: 'jwt', verifier: h.verifier } });
  gateway = await serveApp(app, { host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await endpoint?.close();
  await h?.close();
});

const ask = async (token: string, maxTokens: number, stream: boolean) => {
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(token) },
    body: JSON.stringify({
      model: 'llm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: maxTokens,
      stream,
    }),
  });
  const text = await res.text();
  return { status: res.status, text };
};

const timed = async (fn: () => Promise<unknown>) => {
  const started = performance.now();
  await fn();
  return performance.now() - started;
};

describe('a noisy neighbour', () => {
  it('delays a quiet tenant by about one slot turnover, not by its whole queue', async () => {
    const consumer = { scopes: ['inference/invoke'] };
    const noisy = await h.token({ ...consumer, sub: 'batch-job', tenant: 'acme' });
    const quiet = await h.token({ ...consumer, sub: 'chat-ui', tenant: 'globex' });

    const idle = await timed(() => ask(quiet, SHORT, false));

    const flood = Array.from({ length: 16 }, () => ask(noisy, LONG, true));
    await sleep(200); // 4 long generations running, 12 queued behind them
    let answer: Awaited<ReturnType<typeof ask>> | undefined;
    const beside = await timed(async () => (answer = await ask(quiet, SHORT, false)));
    const done = await Promise.all(flood);

    expect(answer!.status).toBe(200);
    expect(done.every((r) => r.status === 200 && r.text.trimEnd().endsWith('data: [DONE]'))).toBe(
      true,
    );
    const turnover = LONG * TOKEN_MS;
    // First come, first served would put it behind three turnovers of the flood (≈ 3 s).
    expect(beside).toBeLessThan(idle + 1.6 * turnover);
  }, 30_000);
});

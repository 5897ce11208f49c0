import { createApp } from '../../edge/app.js';
import { SageMakerInvoker } from '../../edge/invoke/sagemaker.js';
import { serveApp } from '../../edge/runtime/serve.js';
import { startLocalEndpoint } from '../../local/endpoint/server.js';
import { parseGatewayConfig } from '../../shared/config/load.js';
import { pacedEngine } from '../helpers/paced-engine.js';
import { bearer, identityHarness } from '../edge/auth/harness.js';
import { percentile } from './load.js';

/**
 * The noisy-neighbour row: a quiet tenant's short requests (2 tokens) alone, and beside a noisy
 * tenant that keeps 16 long generations (40 tokens) in flight on a model with 4 engine slots —
 * once as two tenants (fair admission) and once with both callers in one tenant (one shared
 * first-come-first-served queue, what admission did before it shared slots by tenant), and once
 * more with `admit.maxPerTenant` 3, which keeps a slot for others. An engine
 * stand-in spends 25 ms per token, so one slot turnover is about 1 s.
 */
export interface NeighbourRow {
  scenario: 'alone' | 'beside, one queue' | 'beside, fair' | 'beside, fair, cap 3';
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

const TOKEN_MS = 25;
const LONG = 40;
const SHORT = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const engine = pacedEngine(TOKEN_MS);

export async function benchNeighbour(samples = 20): Promise<NeighbourRow[]> {
  const h = await identityHarness();
  const endpoint = await startLocalEndpoint({ port: 0, backends: { engine } });
  const invoker = new SageMakerInvoker({
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  /** A gateway whose model has 4 slots, optionally capping what one tenant holds. */
  const startGateway = (maxPerTenant?: number) => {
    const config = parseGatewayConfig({
      models: [
        {
          id: 'llm',
          kind: 'chat',
          policy: 'admit',
          endpoint: 'engine',
          dedupe: false,
          limits: { maxTokens: 100, defaultMaxTokens: 16 },
          admit: { maxConcurrency: 4, maxQueue: 64, queueTimeoutMs: 60_000, maxPerTenant },
        },
      ],
    });
    const { app } = createApp({ config, invoker, auth: { mode: 'jwt', verifier: h.verifier } });
    return serveApp(app, { host: '127.0.0.1', port: 0 });
  };
  const uncapped = await startGateway();
  const capped = await startGateway(3);
  let gateway = uncapped;
  const scopes = ['inference/invoke'];
  const quiet = await h.token({ scopes, sub: 'chat-ui', tenant: 'globex' });
  const noisyElsewhere = await h.token({ scopes, sub: 'batch-job', tenant: 'acme' });
  const noisySameTenant = await h.token({ scopes, sub: 'batch-job', tenant: 'globex' });

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
    await res.text();
    if (res.status !== 200) throw new Error(`status ${res.status}`);
  };
  const quietSamples = async () => {
    const out: number[] = [];
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      await ask(quiet, SHORT, false);
      out.push(performance.now() - started);
    }
    return out;
  };
  /** Keeps 16 long streams of `token` in flight until `stop` resolves. */
  const flood = async (token: string, stop: Promise<unknown>) => {
    let done = false;
    void stop.then(() => (done = true));
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (!done) await ask(token, LONG, true);
      }),
    );
  };
  const row = (scenario: NeighbourRow['scenario'], ms: number[]): NeighbourRow => {
    const sorted = [...ms].sort((a, b) => a - b);
    return {
      scenario,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      samples: ms.length,
    };
  };
  const beside = async (noisy: string) => {
    let finish!: () => void;
    const stop = new Promise<void>((r) => (finish = r));
    const running = flood(noisy, stop);
    await sleep(300); // the slots are full and the queue holds the rest of the flood
    const ms = await quietSamples();
    finish();
    await running;
    return ms;
  };
  try {
    const alone = row('alone', await quietSamples());
    const fair = row('beside, fair', await beside(noisyElsewhere));
    const shared = row('beside, one queue', await beside(noisySameTenant));
    gateway = capped;
    const cap = row('beside, fair, cap 3', await beside(noisyElsewhere));
    return [alone, shared, fair, cap];
  } finally {
    await uncapped.close();
    await capped.close();
    await endpoint.close();
    await h.close();
  }
}

export const printNeighbourRows = (rows: NeighbourRow[]): void => {
  const alone = rows.find((r) => r.scenario === 'alone')!;
  console.log(
    '\nnoisy neighbour (quiet tenant, 2-token requests; noisy: 16 × 40-token streams on 4 slots):',
  );
  for (const r of rows) {
    console.log(
      `  ${r.scenario.padEnd(20)} p50 ${r.p50Ms.toFixed(0).padStart(5)} ms  p99 ${r.p99Ms.toFixed(0).padStart(5)} ms  p99 ${(r.p99Ms / alone.p99Ms).toFixed(1)}× alone  (${r.samples} requests)`,
    );
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  printNeighbourRows(await benchNeighbour());
}

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { ANONYMOUS_CONSUMER } from '../../../edge/auth/principal.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import type { GatewayMetrics } from '../../../edge/metrics/metrics.js';
import { noopMetrics } from '../../../edge/metrics/metrics.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import { GpuSimulator } from '../../sim/gpu-simulator.js';
import { completionOf, embeddingOf } from '../../sim/outputs.js';
import { startSimulator, type SimulatorServer } from '../../sim/serve.js';

const embedSim = new GpuSimulator({ alphaMs: 5, betaMs: 0.1, slotsPerInstance: 1 });
const chatSim = new GpuSimulator({ alphaMs: 5, betaMs: 0.1, slotsPerInstance: 4, tokenMs: 0 });
let server: SimulatorServer;

beforeAll(async () => {
  server = await startSimulator({ backends: { 'embed-ep': embedSim, 'chat-ep': chatSim } });
});
afterAll(() => server.close());
beforeEach(() => {
  embedSim.resetStats();
  chatSim.resetStats();
});

const config = () =>
  parseGatewayConfig({
    // Per-principal rate limits are tested with identity; here they would only add 429s.
    limits: { enabled: false },
    models: [
      {
        id: 'embed-model',
        kind: 'embedding',
        policy: 'batch',
        format: 'tei',
        endpoint: 'embed-ep',
        batch: { maxBatchSize: 8, maxDelayMs: 5, maxInflightBatches: 1 },
      },
      {
        id: 'chat-model',
        kind: 'chat',
        policy: 'admit',
        format: 'tgi',
        endpoint: 'chat-ep',
        admit: { maxConcurrency: 1, maxQueue: 1, queueTimeoutMs: 300 },
        timeoutMs: 2000,
      },
    ],
  });

/** The gateway with the real SDK invoker on the simulator; the tenant comes from a header. */
const gateway = (metrics: GatewayMetrics = noopMetrics) => {
  const { app } = createApp({
    config: config(),
    invoker: new SageMakerInvoker({
      endpointUrl: server.url,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    metrics,
    auth: {
      mode: 'custom',
      authenticate: async (c, next) => {
        c.set('principal', { ...ANONYMOUS_CONSUMER, tenant: c.req.header('x-tenant') ?? 't0' });
        await next();
      },
    },
  });
  return async (
    path: string,
    body: unknown,
    tenant = 't0',
    signal?: AbortSignal,
  ): Promise<Response> =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': tenant },
      body: JSON.stringify(body),
      signal,
    });
};

const embed = (input: string | string[]) => ({ model: 'embed-model', input });
const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'chat-model',
  messages: [{ role: 'user', content }],
  max_tokens: 16,
  ...extra,
});
const vectors = async (res: Response) =>
  ((await res.json()) as { data: Array<{ embedding: number[] }> }).data.map((d) => d.embedding);
const errorCode = async (res: Response) =>
  ((await res.json()) as { error: { code: string } }).error.code;

describe('ModelService through the gateway and the simulator', () => {
  it('batches concurrent embedding callers of many tenants, each receiving its own vectors', async () => {
    const batches: number[] = [];
    const post = gateway({ ...noopMetrics, batch: (e) => batches.push(e.size) });
    const inputs = Array.from({ length: 30 }, (_, i) => [
      `t${i % 3}:caller${i}:a`,
      `t${i % 3}:caller${i}:b`,
    ]);
    const responses = await Promise.all(
      inputs.map((input, i) => post('/v1/embeddings', embed(input), `t${i % 3}`)),
    );
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      expect(await vectors(res)).toEqual(inputs[i]!.map(embeddingOf));
    }
    expect(embedSim.stats.invocations).toBeLessThan(30);
    expect(embedSim.stats.maxBatch).toBeLessThanOrEqual(8);
    expect(Math.max(...batches)).toBeLessThanOrEqual(8);
  });

  it('fails every member of a batch answered with the wrong count with 502', async () => {
    const post = gateway();
    embedSim.inject('wrong-count');
    const res = await Promise.all([
      post('/v1/embeddings', embed('x:1')),
      post('/v1/embeddings', embed('x:2')),
    ]);
    expect(res.map((r) => r.status)).toEqual([502, 502]);
    expect(await errorCode(res[0]!)).toBe('batch_size_mismatch');
    // The next batch is unaffected.
    const ok = await post('/v1/embeddings', embed('x:3'));
    expect(await vectors(ok)).toEqual([embeddingOf('x:3')]);
  });

  it.each([
    ['5xx', 1, 502],
    ['throttle', 3, 429],
  ] as const)(
    'maps a %s fault of the batch, on every attempt (%i), to %i for its callers',
    async (fault, attempts, status) => {
      const post = gateway();
      embedSim.inject(fault, attempts);
      const res = await post('/v1/embeddings', embed('y:1'));
      expect(res.status).toBe(status);
      expect(embedSim.stats.invocations).toBe(attempts);
    },
  );

  it('retries a batch the endpoint throttled once and answers its callers', async () => {
    const post = gateway();
    embedSim.inject('throttle');
    const res = await post('/v1/embeddings', embed('y:4'));
    expect(await vectors(res)).toEqual([embeddingOf('y:4')]);
    expect(embedSim.stats.invocations).toBe(2);
  });

  it('fails the callers of a batch whose connection is reset on every attempt with 502', async () => {
    const post = gateway();
    embedSim.inject('reset', 3);
    const res = await post('/v1/embeddings', embed('y:2'));
    expect(res.status).toBe(502);
    expect((await res.json()).error.code).toBe('upstream_connection_reset');
    expect((await post('/v1/embeddings', embed('y:3'))).status).toBe(200);
  });

  it('removes an embedding caller that aborts while its batch waits, without harming others', async () => {
    const post = gateway();
    embedSim.inject('slow');
    const busy = post('/v1/embeddings', embed('z:busy'));
    await new Promise((r) => setTimeout(r, 2));
    const gone = new AbortController();
    const leaving = post('/v1/embeddings', embed('z:gone'), 't0', gone.signal).catch(
      (e: unknown) => e,
    );
    const staying = post('/v1/embeddings', embed('z:stay'));
    gone.abort();
    await leaving;
    expect(await vectors(await staying)).toEqual([embeddingOf('z:stay')]);
    expect((await busy).status).toBe(200);
  });

  it('shares one upstream call between identical greedy requests of one tenant only', async () => {
    const post = gateway();
    const greedy = chat('same question', { temperature: 0 });
    const res = await Promise.all([
      post('/v1/chat/completions', greedy, 'a'),
      post('/v1/chat/completions', greedy, 'a'),
      post('/v1/chat/completions', greedy, 'b'),
    ]);
    expect(res.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(chatSim.stats.invocations).toBe(2);
  });

  it('does not share sampled requests', async () => {
    const post = gateway();
    const sampled = chat('q', { temperature: 0.7 });
    const res = await Promise.all([
      post('/v1/chat/completions', sampled, 'a'),
      post('/v1/chat/completions', sampled, 'a'),
    ]);
    const texts = await Promise.all(
      res.map(
        async (r) =>
          ((await r.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!
            .message.content,
      ),
    );
    expect(texts[0]).not.toEqual(texts[1]);
    expect(chatSim.stats.invocations).toBe(2);
  });

  it('refuses with 429 and Retry-After when the admission queue is full', async () => {
    const rejected: string[] = [];
    const post = gateway({ ...noopMetrics, rejected: (e) => rejected.push(e.reason) });
    const res = await Promise.all(
      [1, 2, 3].map((i) => post('/v1/chat/completions', chat(`p${i}`, { temperature: 0.5 }))),
    );
    const statuses = res.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429]);
    const refused = res.find((r) => r.status === 429)!;
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await errorCode(refused)).toBe('queue_full');
    expect(rejected).toEqual(['queue_full']);
  });

  it('fails a request whose queue deadline passes with 504 queue_timeout', async () => {
    const post = gateway();
    const hung = new AbortController();
    chatSim.inject('hang');
    const first = post(
      '/v1/chat/completions',
      chat('hangs', { temperature: 0.5 }),
      't0',
      hung.signal,
    ).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
    const waiting = await post('/v1/chat/completions', chat('waits', { temperature: 0.5 }));
    expect(waiting.status).toBe(504);
    expect(await errorCode(waiting)).toBe('queue_timeout');
    hung.abort();
    await first;
  });

  it('streams through admission and releases the slot when the stream ends', async () => {
    const post = gateway();
    const res = await post(
      '/v1/chat/completions',
      chat('stream me', { stream: true, temperature: 0 }),
    );
    const text = await res.text();
    expect(text).toContain('[DONE]');
    const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
    expect(content).toBe(
      completionOf('<|im_start|>user\nstream me<|im_end|>\n<|im_start|>assistant\n').replace(
        /\n/g,
        '\\n',
      ),
    );
    // The one slot is free again.
    expect((await post('/v1/chat/completions', chat('after'))).status).toBe(200);
  });

  it('ends a broken stream with an error event and no [DONE], and frees the slot', async () => {
    const post = gateway();
    chatSim.inject('broken-stream');
    const text = await (
      await post('/v1/chat/completions', chat('breaks', { stream: true }))
    ).text();
    expect(text).toContain('model_stream_error');
    expect(text).not.toContain('[DONE]');
    expect((await post('/v1/chat/completions', chat('after'))).status).toBe(200);
  });
});

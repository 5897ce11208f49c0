import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../edge/app.js';
import type { Principal } from '../../edge/auth/principal.js';
import { SageMakerInvoker } from '../../edge/invoke/sagemaker.js';
import { serveApp, type RunningServer } from '../../edge/runtime/serve.js';
import { loadGatewayConfig } from '../../shared/config/load.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/endpoint/server.js';
import { createLocalBackends, type LocalBackends } from '../../local/model/local-backends.js';
import { DEFAULT_LOCAL_CONFIG } from '../../local/stack.js';

/**
 * One tenant's aborted streams against the real local model, then another tenant's ordinary
 * traffic: the second tenant sees no 5xx (the model's sequences are back before their slots are).
 */
let local: LocalBackends;
let endpoint: LocalEndpoint;
let gateway: RunningServer;

const principal = (tenant: string): Principal => ({
  subject: `${tenant}-user`,
  clientId: undefined,
  tenant,
  scopes: ['inference/invoke'],
  groups: [],
  roles: ['consumer'],
});

beforeAll(async () => {
  local = await createLocalBackends({ env: {}, threads: 1 });
  endpoint = await startLocalEndpoint({ port: 0, backends: local.backends });
  const file = loadGatewayConfig({ path: DEFAULT_LOCAL_CONFIG, env: {} });
  // Request limits off: the burst is the point, and limits are not under test here.
  const config = {
    ...file,
    upstream: { ...file.upstream, endpointUrl: endpoint.url },
    limits: { ...file.limits, enabled: false },
  };
  const invoker = new SageMakerInvoker({
    region: config.upstream.region,
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { app } = createApp({
    config,
    invoker,
    auth: {
      mode: 'custom',
      authenticate: async function tenantHeader(c, next) {
        c.set('principal', principal(c.req.header('x-test-tenant') ?? 'quiet'));
        await next();
      },
    },
  });
  gateway = await serveApp(app, { host: '127.0.0.1', port: 0 });
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  await endpoint?.close();
  await local?.close();
});

const chat = (tenant: string, body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-test-tenant': tenant },
    body: JSON.stringify({
      model: 'sluice-tiny-chat',
      messages: [{ role: 'user', content: 'Tell me a long story' }],
      ...body,
    }),
    ...(signal ? { signal } : {}),
  });

/** Starts a stream, reads its first bytes, then leaves. */
const abortedStream = async (): Promise<number> => {
  const controller = new AbortController();
  const res = await chat('noisy', { stream: true, max_tokens: 400 }, controller.signal);
  const reader = res.body!.getReader();
  await reader.read();
  controller.abort();
  await reader.cancel().catch(() => {});
  return res.status;
};

describe('aborted streams of one tenant', () => {
  it('leave the local model able to serve another tenant without a 5xx', async () => {
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(Array.from({ length: 12 }, () => abortedStream()));
      expect(statuses).toEqual(statuses.map(() => 200));
      // No pause: the quiet tenant arrives while the model is still releasing those sequences.
      const quiet = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const res = await chat('quiet', { max_tokens: 4, stream: i % 2 === 0 });
          const text = await res.text();
          return { status: res.status, text };
        }),
      );
      for (const q of quiet) {
        expect(q.status, q.text).toBe(200);
        expect(q.text).not.toContain('"error"');
      }
    }
  }, 120_000);
});

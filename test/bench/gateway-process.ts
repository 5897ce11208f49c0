import { serve } from '@hono/node-server';
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../edge/app.js';
import { createTokenVerifier } from '../../edge/auth/verify-token.js';
import { SageMakerInvoker } from '../../edge/invoke/sagemaker.js';
import { noopMetrics, type GatewayMetrics } from '../../edge/metrics/metrics.js';
import { parseGatewayConfig } from '../../shared/config/load.js';
import { CLIENT_ID, ENDPOINTS, ISSUER, MAX_BATCH, MODELS, type ChildMessage } from './setup.js';

/**
 * The gateway as deployed on a Node server: `createApp` on @hono/node-server with the real
 * SageMaker invoker. Two listeners share one process: authentication off, and JWT on.
 */
const simUrl = process.env.SIM_URL!;
const jwks = JSON.parse(process.env.BENCH_JWKS!) as JSONWebKeySet;

const config = parseGatewayConfig({
  limits: { enabled: false },
  models: [
    {
      id: MODELS.batched,
      kind: 'embedding',
      policy: 'batch',
      format: 'tei',
      endpoint: ENDPOINTS.batched,
      batch: { maxBatchSize: MAX_BATCH, maxDelayMs: 10, maxInflightBatches: 2 },
    },
    {
      // Forwarding without batching: every request is its own invocation.
      id: MODELS.single,
      kind: 'embedding',
      policy: 'batch',
      format: 'tei',
      endpoint: ENDPOINTS.single,
      batch: { maxBatchSize: 1, maxDelayMs: 0, maxInflightBatches: 256, maxConcurrentBatches: 256 },
    },
    {
      id: MODELS.fast,
      kind: 'embedding',
      policy: 'batch',
      format: 'tei',
      endpoint: ENDPOINTS.fast,
    },
  ],
});

const batches: Record<string, { invocations: number; items: number; maxBatch: number }> = {};
const metrics: GatewayMetrics = {
  ...noopMetrics,
  batch: (e) => {
    const b = (batches[e.model] ??= { invocations: 0, items: 0, maxBatch: 0 });
    b.invocations++;
    b.items += e.size;
    b.maxBatch = Math.max(b.maxBatch, e.size);
  },
};

const invoker = new SageMakerInvoker({
  endpointUrl: simUrl,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

const listen = (deps: Pick<AppDeps, 'auth'>) =>
  new Promise<string>((resolve) => {
    const { app } = createApp({ config, invoker, metrics, ...deps });
    serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (a: AddressInfo) =>
      resolve(`http://127.0.0.1:${a.port}`),
    );
  });

const noauth = await listen({ auth: { mode: 'disabled' } });
const jwt = await listen({
  auth: {
    mode: 'jwt',
    verifier: createTokenVerifier({
      issuer: ISSUER,
      clientIds: [CLIENT_ID],
      keys: createLocalJWKSet(jwks),
    }),
  },
});
const send = (m: ChildMessage) => process.send?.(m);
process.on('message', (m: { type: string }) => {
  if (m.type === 'reset') for (const k of Object.keys(batches)) delete batches[k];
  if (m.type === 'stats') send({ type: 'stats', stats: batches });
  if (m.type === 'exit') process.exit(0);
});
send({ type: 'ready', urls: { noauth, jwt } });

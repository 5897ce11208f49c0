import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import { quotaGateFromEnv } from '../../../edge/quota/from-env.js';
import type { QuotaGate } from '../../../edge/quota/gate.js';
import type { UsageRecord } from '../../../edge/usage/record.js';
import { serveApp, type RunningServer } from '../../../edge/runtime/serve.js';
import { silentLogger } from '../../../edge/types.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import {
  createQuotaTable,
  startLocalDynamo,
  type LocalDynamo,
} from '../../../local/dynamo/server.js';
import { scriptedContainer } from './scripted-container.js';

/** A client that leaves a stream before the container reported usage, over real sockets. */
let dynamo: LocalDynamo;
let endpoint: LocalEndpoint;
let server: RunningServer;
let quota: QuotaGate;
const records: UsageRecord[] = [];

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  await createQuotaTable(dynamo.client(), 'quotas');
  const container = scriptedContainer({ promptTokens: 5, completionTokens: 40, tokenDelayMs: 25 });
  endpoint = await startLocalEndpoint({ port: 0, backends: { 'chat-ep': container.backend } });
  const config = parseGatewayConfig({
    models: [
      { id: 'chat-model', kind: 'chat', policy: 'admit', format: 'openai', endpoint: 'chat-ep' },
    ],
    quotas: { enabled: true, tenant: { daily: 100_000 } },
  });
  quota = quotaGateFromEnv({ SLUICE_QUOTA_TABLE: 'quotas' }, config, {
    clock: { now: () => Date.now() },
    logger: silentLogger,
    client: dynamo.client(),
  })!;
  const { app } = createApp({
    config,
    invoker: new SageMakerInvoker({
      region: 'us-east-1',
      endpointUrl: endpoint.url,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    auth: { mode: 'disabled' },
    quota,
    usage: { record: (r) => void (r.type === 'usage' && records.push(r)) },
  });
  server = await serveApp(app, { host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server?.close();
  await endpoint?.close();
  await dynamo?.close();
});

describe('a client that disconnects mid-stream', () => {
  it('keeps its whole reservation charged when the container never reported usage', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat-model',
        messages: [{ role: 'user', content: 'Go on' }],
        max_tokens: 40,
        stream: true,
      }),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('100000');
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    for (let i = 0; i < 200 && records.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    const [record] = records;
    expect(record).toMatchObject({
      outcome: 'client_closed',
      stream: true,
      usage_reported: false,
      tenant: 'local',
    });
    expect(record!.charged_tokens).toBe(record!.estimated_tokens);
    const today = `day#${new Date().toISOString().slice(0, 10)}`;
    for (let i = 0; i < 100; i++) {
      const rows = (await quota.usage('local', { from: today, to: today }))['tenant#local']!;
      if (rows[0]?.reserved === 0) {
        expect(rows[0]).toMatchObject({ used: record!.estimated_tokens, requests: 1 });
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the reservation never settled');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type GatewayApp } from '../../../edge/app.js';
import type { Principal } from '../../../edge/auth/principal.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import { estimateTokens } from '../../../edge/quota/estimate.js';
import { quotaGateFromEnv } from '../../../edge/quota/from-env.js';
import { BatchingUsageSink } from '../../../edge/usage/sink.js';
import type { StreamRecord, UsageRecord } from '../../../edge/usage/record.js';
import { silentLogger } from '../../../edge/types.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import {
  createQuotaTable,
  startLocalDynamo,
  type LocalDynamo,
} from '../../../local/dynamo/server.js';
import { scriptedContainer, type ReportedTotals } from './scripted-container.js';

/**
 * Two gateway apps, each with its own DynamoDB client (as two processes would have), share one
 * dynalite server and one local SageMaker endpoint. The tenant's daily quota must hold across
 * both to within one request's estimate, and the counters must match what the container
 * reported.
 */
const TABLE = 'sluice-quotas';
const DAILY = 1500;
const MAX_TOKENS = 40;
const MESSAGES = [{ role: 'user' as const, content: 'Count the words of this sentence.' }];
/** What each request reserves. */
const ESTIMATE = estimateTokens(
  { kind: 'chat', body: { messages: MESSAGES }, maxTokens: MAX_TOKENS, choices: 1 },
  3,
);

let dynamo: LocalDynamo;
let endpoint: LocalEndpoint;
let reported: ReportedTotals;
let gateways: GatewayApp[];
const records: UsageRecord[] = [];
const sinks: BatchingUsageSink[] = [];

const principal = (tenant: string, clientId: string): Principal => ({
  subject: `${clientId}-sub`,
  clientId,
  tenant,
  scopes: [],
  groups: [],
  roles: tenant === 'ops' ? ['viewer'] : ['consumer'],
});

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  await createQuotaTable(dynamo.client(), TABLE);
  const container = scriptedContainer({ promptTokens: 7, completionTokens: 25 });
  reported = container.reported;
  endpoint = await startLocalEndpoint({ port: 0, backends: { 'chat-ep': container.backend } });
  const config = parseGatewayConfig({
    models: [
      {
        id: 'chat-model',
        kind: 'chat',
        policy: 'admit',
        format: 'openai',
        endpoint: 'chat-ep',
        limits: { maxTokens: 64, defaultMaxTokens: 32 },
      },
    ],
    limits: { enabled: false },
    quotas: { enabled: true, tenant: { daily: DAILY } },
  });
  gateways = [0, 1].map(() => {
    const clock = { now: () => Date.now() };
    const sink = new BatchingUsageSink({
      writers: [
        {
          name: 'test',
          write: async (batch: readonly StreamRecord[]) => {
            for (const r of batch) if (r.type === 'usage') records.push(r);
          },
        },
      ],
      logger: silentLogger,
      maxDelayMs: 5,
    });
    sinks.push(sink);
    return createApp({
      config,
      invoker: new SageMakerInvoker({
        region: 'us-east-1',
        endpointUrl: endpoint.url,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      auth: {
        mode: 'custom',
        authenticate: async function testPrincipal(c, next) {
          c.set('principal', principal(c.req.header('x-tenant')!, c.req.header('x-client')!));
          await next();
        },
      },
      quota: quotaGateFromEnv({ SLUICE_QUOTA_TABLE: TABLE }, config, {
        clock,
        logger: silentLogger,
        client: dynamo.client(),
      }),
      usage: sink,
    });
  });
});

afterAll(async () => {
  await endpoint?.close();
  await dynamo?.close();
});

const chat = (app: GatewayApp, tenant: string, stream: boolean) =>
  app.app.request('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tenant': tenant, 'x-client': 'batch-job' },
    body: JSON.stringify({
      model: 'chat-model',
      messages: MESSAGES,
      max_tokens: MAX_TOKENS,
      stream,
    }),
  });

const usageOf = async (tenant: string) => {
  const res = await gateways[0]!.app.request(`/admin/usage?tenant=${tenant}`, {
    headers: { 'x-tenant': 'ops', 'x-client': 'ops' },
  });
  return res;
};

/** Settlements are written after the response: wait until no reservation is outstanding. */
const settled = async (tenant: string) => {
  const store = gateways[0]!;
  for (let i = 0; i < 200; i++) {
    const res = await store.app.request(`/admin/usage?tenant=${tenant}`, {
      headers: { 'x-tenant': 'ops', 'x-client': 'ops' },
    });
    const body = (await res.json()) as { totals: { reserved: number } };
    if (res.status === 200 && body.totals.reserved === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('reservations still outstanding');
};

describe('token quotas across two gateway processes sharing one DynamoDB', () => {
  it('hold a daily quota to within one request estimate and charge what the container reported', async () => {
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => chat(gateways[i % 2]!, 'team-a', i % 3 === 0)),
    );
    for (const res of results) await res.text();
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(results.length);
    expect(refused.length).toBeGreaterThan(0);
    await settled('team-a');
    await Promise.all(sinks.map((s) => s.flush()));

    // 7 prompt + 25 completion tokens per answer, as the container reported.
    const perAnswer = 32;
    const res = await usageOf('team-a');
    expect(res.status).toBe(200);
    const view = (await res.json()) as {
      totals: { used: number; promptTokens: number; completionTokens: number; requests: number };
      days: { limit: number }[];
    };
    expect(view.days[0]!.limit).toBe(DAILY);
    expect(view.totals.used).toBe(ok.length * perAnswer);
    expect(view.totals.promptTokens).toBe(reported.prompt);
    expect(view.totals.completionTokens).toBe(reported.completion);
    expect(view.totals.requests).toBe(ok.length);
    expect(reported.answers).toBe(ok.length);

    // Held: no admitted reservation passed the limit, and each settled below its estimate.
    expect(view.totals.used).toBeLessThanOrEqual(DAILY + ESTIMATE);
    expect(view.totals.used).toBeLessThanOrEqual(DAILY);

    // One usage record per answer, with the container's numbers.
    const mine = records.filter((r) => r.tenant === 'team-a' && r.outcome === 'ok');
    expect(mine).toHaveLength(ok.length);
    expect(mine.reduce((s, r) => s + r.prompt_tokens + r.completion_tokens, 0)).toBe(
      view.totals.used,
    );
    expect(mine.every((r) => r.principal_class === 'batch-job' && r.usage_reported)).toBe(true);
  });

  it('admits requests one at a time until less than one estimate is left', async () => {
    let last = 200;
    for (let i = 0; i < 200 && last === 200; i++) {
      const res = await chat(gateways[i % 2]!, 'team-a', false);
      await res.text();
      last = res.status;
    }
    expect(last).toBe(429);
    await settled('team-a');
    const view = (await (await usageOf('team-a')).json()) as { totals: { used: number } };
    expect(view.totals.used).toBeLessThanOrEqual(DAILY);
    expect(DAILY - view.totals.used).toBeLessThan(ESTIMATE);
  });

  it('answers over quota with 429 quota_exceeded, the reset time and x-ratelimit headers', async () => {
    const res = await chat(gateways[1]!, 'team-a', false);
    expect(res.status).toBe(429);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('quota_exceeded');
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect(body.error.message).toContain(`resets at ${tomorrow}T00:00:00.000Z`);
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe(String(DAILY));
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(res.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+h)?(\d+m)?\d+s$/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('keeps other tenants apart and reports remaining tokens on success', async () => {
    const res = await chat(gateways[0]!, 'team-b', false);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe(String(DAILY));
    const remaining = Number(res.headers.get('x-ratelimit-remaining-tokens'));
    // Only this request's reservation is taken from team-b's fresh window.
    expect(remaining).toBeGreaterThan(DAILY - 100);
    expect(remaining).toBeLessThan(DAILY);
  });
});

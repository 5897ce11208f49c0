import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuotaGate } from '../../../edge/quota/gate.js';
import { DynamoQuotaStore } from '../../../edge/quota/store.js';
import { formatResetDuration } from '../../../edge/quota/windows.js';
import { silentLogger } from '../../../edge/types.js';
import { quotasSchema } from '../../../shared/config/schema.js';
import { RateLimitError, ServiceUnavailableError } from '../../../shared/errors.js';
import {
  createQuotaTable,
  LOCAL_DYNAMO_CREDENTIALS,
  startLocalDynamo,
  type LocalDynamo,
} from '../../../local/dynamo/server.js';

const NOON = Date.UTC(2026, 11, 2, 12, 0, 0);
const clock = { now: () => NOON };
const subject = { tenant: 't1', principalClass: 'web' };

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
  await createQuotaTable(dynamo.client(), 'gate-quotas');
});
afterAll(() => dynamo?.close());

/** A DynamoDB client for a port nobody listens on: the table is unreachable. */
const unreachable = async (): Promise<DynamoDBClient> => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: LOCAL_DYNAMO_CREDENTIALS,
    maxAttempts: 1,
  });
};

const gate = (client: DynamoDBClient, config: Record<string, unknown>, errors: string[] = []) =>
  new QuotaGate({
    store: new DynamoQuotaStore({ tableName: 'gate-quotas', client }),
    config: quotasSchema.parse({ enabled: true, ...config }),
    clock,
    logger: silentLogger,
    onStoreError: (op) => errors.push(op),
  });

describe('QuotaGate', () => {
  it('refuses a class over its own daily quota while its tenant still has room', async () => {
    const g = gate(dynamo.client(), {
      tenant: { daily: 10_000 },
      byPrincipalClass: { web: { daily: 100 } },
    });
    const first = await g.reserve(subject, 80);
    expect(first.headers).toEqual({
      'x-ratelimit-limit-tokens': '100',
      'x-ratelimit-remaining-tokens': '20',
      'x-ratelimit-reset-tokens': '12h0m0s',
    });
    const refused = await g.reserve(subject, 30).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).code).toBe('quota_exceeded');
    expect((refused as RateLimitError).message).toContain("client 'web' of tenant 't1'");
    expect((refused as RateLimitError).message).toContain('resets at 2026-12-03T00:00:00.000Z');
    // Settling to less than was reserved makes room again; the tenant kept nothing of the refusal.
    await first.settle({ promptTokens: 10, completionTokens: 20 });
    await (await g.reserve(subject, 30)).settle('release');
    const usage = await g.usage('t1', { from: 'day#2026-12-02', to: 'day#2026-12-02' }, ['web']);
    expect(usage['tenant#t1']![0]).toMatchObject({ used: 30, reserved: 0, limit: 10_000 });
    expect(usage['class#t1#web']![0]).toMatchObject({ used: 30, requests: 2, limit: 100 });
  });

  it('fails closed when the table is unreachable and onStoreError is closed', async () => {
    const errors: string[] = [];
    const g = gate(await unreachable(), { onStoreError: 'closed' }, errors);
    const refused = await g.reserve(subject, 10).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ServiceUnavailableError);
    expect((refused as ServiceUnavailableError).code).toBe('quota_unavailable');
    expect(errors).toEqual(['reserve']);
  });

  it('fails open against its own count when the table is unreachable and onStoreError is open', async () => {
    const errors: string[] = [];
    const g = gate(await unreachable(), { onStoreError: 'open', tenant: { daily: 100 } }, errors);
    const held = await g.reserve(subject, 60);
    expect(held.headers['x-ratelimit-remaining-tokens']).toBe('40');
    await expect(g.reserve(subject, 60)).rejects.toBeInstanceOf(RateLimitError);
    await held.settle({ promptTokens: 1, completionTokens: 1 });
    expect(errors).toEqual(['reserve', 'reserve', 'settle']);
  });
});

describe('formatResetDuration', () => {
  it('writes durations the way OpenAI headers do', () => {
    expect(formatResetDuration(20)).toBe('20ms');
    expect(formatResetDuration(6 * 60_000)).toBe('6m0s');
    expect(formatResetDuration(3_723_000)).toBe('1h2m3s');
    expect(formatResetDuration(2 * 86_400_000 + 1000)).toBe('2d0h0m1s');
  });
});

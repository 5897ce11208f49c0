import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { FirehoseUsageWriter } from '../../../edge/usage/firehose.js';
import { usageFromEnv } from '../../../edge/usage/from-env.js';
import type { StreamRecord, UsageRecord } from '../../../edge/usage/record.js';
import { BatchingUsageSink, logUsageWriter } from '../../../edge/usage/sink.js';
import { silentLogger } from '../../../edge/types.js';

const firehose = mockClient(FirehoseClient);
afterEach(() => firehose.reset());

const record = (i: number): UsageRecord => ({
  type: 'usage',
  time: '2026-12-02T12:00:00.000Z',
  start_time: '2026-12-02T11:59:59.000Z',
  request_id: `r${i}`,
  tenant: 't',
  principal: 'p',
  principal_class: 'web',
  model: 'm',
  target: 'default',
  kind: 'chat',
  stream: false,
  status: 200,
  outcome: 'ok',
  error_code: null,
  prompt_tokens: 3,
  completion_tokens: 4,
  reasoning_tokens: 0,
  usage_reported: true,
  estimated_tokens: 10,
  charged_tokens: 7,
  latency_ms: 1000,
});

describe('FirehoseUsageWriter', () => {
  it('sends newline-terminated JSON in calls of at most 500 records', async () => {
    firehose.on(PutRecordBatchCommand).resolves({ FailedPutCount: 0, RequestResponses: [] });
    const writer = new FirehoseUsageWriter({
      deliveryStreamName: 'usage',
      client: new FirehoseClient({ region: 'us-east-1' }),
    });
    await writer.write(Array.from({ length: 1203 }, (_, i) => record(i)));
    const calls = firehose.commandCalls(PutRecordBatchCommand);
    expect(calls.map((c) => c.args[0].input.Records!.length)).toEqual([500, 500, 203]);
    const first = new TextDecoder().decode(calls[0]!.args[0].input.Records![0]!.Data);
    expect(first.endsWith('\n')).toBe(true);
    expect(JSON.parse(first)).toMatchObject({ type: 'usage', request_id: 'r0', tenant: 't' });
    expect(calls[0]!.args[0].input.DeliveryStreamName).toBe('usage');
  });

  it('sends again only the records Firehose reports as failed', async () => {
    firehose
      .on(PutRecordBatchCommand)
      .resolvesOnce({
        FailedPutCount: 1,
        RequestResponses: [{ RecordId: 'a' }, { ErrorCode: 'ServiceUnavailableException' }],
      })
      .resolves({ FailedPutCount: 0, RequestResponses: [{ RecordId: 'b' }] });
    const writer = new FirehoseUsageWriter({
      deliveryStreamName: 'usage',
      client: new FirehoseClient({ region: 'us-east-1' }),
    });
    await writer.write([record(1), record(2)]);
    const calls = firehose.commandCalls(PutRecordBatchCommand);
    expect(calls).toHaveLength(2);
    const resent = new TextDecoder().decode(calls[1]!.args[0].input.Records![0]!.Data);
    expect(JSON.parse(resent).request_id).toBe('r2');
  });
});

describe('BatchingUsageSink', () => {
  it('writes a full batch at once and the rest on flush, one log write per batch', async () => {
    const writes: string[] = [];
    const sink = new BatchingUsageSink({
      writers: [logUsageWriter((text) => writes.push(text))],
      logger: silentLogger,
      maxRecords: 3,
      maxDelayMs: 60_000,
    });
    for (let i = 0; i < 4; i++) sink.record(record(i));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.trimEnd().split('\n')).toHaveLength(3);
    await sink.flush();
    expect(writes).toHaveLength(2);
    expect(JSON.parse(writes[1]!).request_id).toBe('r3');
  });

  it('keeps the other writers going when one fails', async () => {
    const got: StreamRecord[] = [];
    const errors: string[] = [];
    const sink = new BatchingUsageSink({
      writers: [
        { name: 'broken', write: () => Promise.reject(new Error('down')) },
        { name: 'ok', write: async (b) => void got.push(...b) },
      ],
      logger: { ...silentLogger, error: (_f, m) => void errors.push(m) },
    });
    sink.record(record(1));
    await sink.flush();
    expect(got).toHaveLength(1);
    expect(errors).toEqual(['usage records lost']);
  });
});

describe('usageFromEnv', () => {
  it('sends admin changes into the usage stream as audit records', async () => {
    firehose.on(PutRecordBatchCommand).resolves({ FailedPutCount: 0, RequestResponses: [] });
    const { usage, audit } = usageFromEnv(
      { SLUICE_USAGE_STREAM: 'usage' },
      { logger: silentLogger, firehose: new FirehoseClient({ region: 'us-east-1' }) },
    );
    const lines: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) =>
      lines.push(chunk) > 0) as typeof process.stdout.write;
    try {
      audit.write({
        action: 'model.pause',
        requestId: 'r9',
        actor: { subject: 'ops', clientId: null, roles: ['operator'] },
        model: 'm',
        before: { state: 'serving' },
        after: { state: 'paused' },
      });
      await usage.flush();
    } finally {
      process.stdout.write = original;
    }
    const sent = firehose.commandCalls(PutRecordBatchCommand)[0]!.args[0].input.Records!;
    const streamed = JSON.parse(new TextDecoder().decode(sent[0]!.Data));
    expect(streamed).toMatchObject({ type: 'audit', action: 'model.pause', principal: 'ops' });
    expect(JSON.parse(streamed.audit)).toMatchObject({ after: { state: 'paused' } });
    // One audit line on stdout (the audit sink's), not a second copy from the usage log writer.
    expect(lines.filter((l) => l.includes('model.pause'))).toHaveLength(1);
  });
});

import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import type { StreamRecord } from './record.js';
import type { UsageWriter } from './sink.js';

/** PutRecordBatch takes at most 500 records and 4 MB per call (a little under, for the envelope). */
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 3_900_000;

export interface FirehoseUsageWriterOptions {
  deliveryStreamName: string;
  /** @default a client for the environment's region and credentials */
  client?: FirehoseClient;
  /** Tries of records Firehose reports as failed, the first included. @default 3 */
  maxAttempts?: number;
}

const encoder = new TextEncoder();

/**
 * Writes records to a Firehose stream as newline-terminated JSON (one record per line, which
 * Athena's JSON SerDe reads), in `PutRecordBatch` calls of at most 500 records and 4 MB.
 * Records Firehose reports as failed (`FailedPutCount`) are sent again, up to `maxAttempts`.
 */
export class FirehoseUsageWriter implements UsageWriter {
  readonly name = 'firehose';
  private readonly client: FirehoseClient;
  private readonly maxAttempts: number;

  constructor(private readonly options: FirehoseUsageWriterOptions) {
    this.client = options.client ?? new FirehoseClient({});
    this.maxAttempts = options.maxAttempts ?? 3;
  }

  async write(batch: readonly StreamRecord[]): Promise<void> {
    for (const chunk of chunks(batch.map((r) => encoder.encode(JSON.stringify(r) + '\n')))) {
      await this.put(chunk);
    }
  }

  private async put(records: Uint8Array[]): Promise<void> {
    let left = records;
    for (let attempt = 1; left.length > 0; attempt++) {
      const out = await this.client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: this.options.deliveryStreamName,
          Records: left.map((Data) => ({ Data })),
        }),
      );
      if (!out.FailedPutCount) return;
      const failed = left.filter((_, i) => out.RequestResponses?.[i]?.ErrorCode);
      if (attempt >= this.maxAttempts) {
        throw new Error(`Firehose refused ${failed.length} records after ${attempt} attempts.`);
      }
      left = failed;
    }
  }
}

/** Splits encoded records into calls Firehose accepts. */
const chunks = (records: Uint8Array[]): Uint8Array[][] => {
  const out: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let bytes = 0;
  for (const r of records) {
    if (current.length === MAX_BATCH_RECORDS || bytes + r.byteLength > MAX_BATCH_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += r.byteLength;
  }
  if (current.length > 0) out.push(current);
  return out;
};

import type { Logger } from '../types.js';
import type { StreamRecord } from './record.js';

/** Takes records one at a time; never throws into the request that produced one. */
export interface UsageSink {
  record(record: StreamRecord): void;
}

/** Delivers one batch somewhere (the log, a Firehose stream). */
export interface UsageWriter {
  readonly name: string;
  write(batch: readonly StreamRecord[]): Promise<void>;
}

export interface BatchingUsageSinkOptions {
  writers: readonly UsageWriter[];
  logger: Logger;
  /** Records per batch; a full batch is written at once. @default 100 */
  maxRecords?: number;
  /** Longest a record waits for its batch to fill. @default 1000 */
  maxDelayMs?: number;
  /** Records held at most (a writer that stalls drops the oldest past this). @default 10000 */
  maxPending?: number;
}

/**
 * Collects records and hands them to every writer in batches: when `maxRecords` are waiting, or
 * `maxDelayMs` after the first of a batch. A writer that fails loses that batch for itself only
 * (logged with the count), never the request that produced the records.
 */
export class BatchingUsageSink implements UsageSink {
  private pending: StreamRecord[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly maxRecords: number;
  private readonly maxDelayMs: number;
  private readonly maxPending: number;
  /** Records dropped because the sink was full. */
  dropped = 0;

  constructor(private readonly options: BatchingUsageSinkOptions) {
    this.maxRecords = options.maxRecords ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 1000;
    this.maxPending = options.maxPending ?? 10_000;
  }

  record(record: StreamRecord): void {
    if (this.pending.length >= this.maxPending) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(record);
    if (this.pending.length >= this.maxRecords) {
      this.dispatch();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.dispatch(), this.maxDelayMs);
      this.timer.unref?.();
    }
  }

  /** Writes everything pending and waits for every write in flight. */
  async flush(): Promise<void> {
    this.dispatch();
    await Promise.all([...this.inflight]);
  }

  private dispatch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxRecords);
      for (const writer of this.options.writers) {
        const done = writer.write(batch).catch((error: unknown) => {
          this.options.logger.error(
            {
              code: 'usage_write_failed',
              writer: writer.name,
              records: batch.length,
              cause: error instanceof Error ? error.name : typeof error,
            },
            'usage records lost',
          );
        });
        this.inflight.add(done);
        void done.finally(() => this.inflight.delete(done));
      }
    }
  }
}

/**
 * Usage records (`"type":"usage"`) as JSON lines in the log, one write per batch, whatever `LOG_LEVEL` says: what
 * a chargeback needs is not a debug message.
 * @default write to stdout
 */
export const logUsageWriter = (
  write: (text: string) => void = (text) => void process.stdout.write(text),
): UsageWriter => ({
  name: 'log',
  async write(batch) {
    // Audit records reach the log through the audit sink's own lines.
    const lines = batch.filter((r) => r.type === 'usage').map((r) => JSON.stringify(r) + '\n');
    if (lines.length > 0) write(lines.join(''));
  },
});

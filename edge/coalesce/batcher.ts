import { RateLimitError, UpstreamError } from '../../shared/errors.js';
import type { DispatchReason } from '../metrics/metrics.js';
import { ClientClosedError } from '../../shared/errors.js';
import { realScheduler, type Scheduler } from './scheduler.js';

/**
 * Sends one batch upstream. Must answer one result per item, in order; an `Error` in place of a
 * result fails only that item's caller. `signal` aborts when every caller of the batch has gone.
 */
export type BatchFn<I, O> = (
  items: readonly I[],
  key: string,
  signal: AbortSignal,
) => Promise<ReadonlyArray<O | Error>>;

/** What the batcher reports, for metrics. All optional. */
export interface BatcherHooks {
  batch?(e: { size: number; reason: DispatchReason }): void;
  inflight?(delta: 1 | -1): void;
  queueWait?(ms: number): void;
  rejected?(reason: 'queue_full'): void;
}

export interface BatcherOptions<I, O> {
  batchFn: BatchFn<I, O>;
  /** Items per batch; a batch that reaches it leaves at once. @default 64 */
  maxBatchSize?: number;
  /** Longest a batch waits after its first item before it leaves anyway. @default 10 */
  maxDelayMs?: number;
  /** Batches in flight below which a new batch leaves at once instead of waiting. @default 2 */
  maxInflightBatches?: number;
  /**
   * Batches in flight at most. A batch that is full or whose timer fired while this many are in
   * flight waits (FIFO) for one to finish: overload queues here, not at the GPU. @default 8
   */
  maxConcurrentBatches?: number;
  /** Items waiting (not yet dispatched) before `load` refuses with 429. @default 4096 */
  maxQueuedItems?: number;
  /** Names the target in the 429 message. @default 'The model' */
  label?: string;
  /** Builds the error every member sees when the answer cannot be matched to the items. */
  mismatch?: (got: number, expected: number) => Error;
  scheduler?: Scheduler;
  hooks?: BatcherHooks;
}

interface Waiter<I, O> {
  item: I;
  enqueuedAt: number;
  resolve(value: O): void;
  reject(error: unknown): void;
  /** Detaches this caller: its result, if any, is dropped. */
  leave?: () => void;
  done: boolean;
}

interface Batch<I, O> {
  key: string;
  waiters: Array<Waiter<I, O>>;
  cancelTimer: () => void;
  /** Set once it has left; members that abort afterwards only drop their result. */
  controller?: AbortController;
  soonPending: boolean;
  /** Closed and waiting for a slot under `maxConcurrentBatches`. */
  ready?: DispatchReason;
  /** Its timer fired while every slot was taken: it leaves at the next free slot. */
  due?: boolean;
}

/**
 * A micro-batcher in the spirit of dataloader: the open batch for a key is reused until it is
 * dispatched or full. A batch leaves when it is full, when `maxDelayMs` has passed since its
 * first item, or as soon as fewer than `maxInflightBatches` batches are in flight, so an idle
 * target adds no waiting and a busy one accumulates full batches while its slots are taken.
 *
 * @example
 * const batcher = new Batcher({ batchFn: (texts) => embedMany(texts) });
 * const vector = await batcher.load('model-a', 'hello', signal);
 */
export class Batcher<I, O> {
  private readonly open = new Map<string, Batch<I, O>>();
  private readonly maxBatchSize: number;
  private readonly maxDelayMs: number;
  private readonly maxInflight: number;
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly scheduler: Scheduler;
  private inflightCount = 0;
  /** Closed batches waiting for a slot, oldest first. */
  private readonly ready: Array<Batch<I, O>> = [];
  /** Items not yet dispatched, in open and ready batches. */
  private queued = 0;
  /** Items per millisecond recently delivered upstream, for `Retry-After`. */
  private drainPerMs = 0;
  private lastDrainAt: number | undefined;

  constructor(private readonly options: BatcherOptions<I, O>) {
    this.maxBatchSize = options.maxBatchSize ?? 64;
    this.maxDelayMs = options.maxDelayMs ?? 10;
    this.maxInflight = options.maxInflightBatches ?? 2;
    this.maxConcurrent = Math.max(this.maxInflight, options.maxConcurrentBatches ?? 8);
    this.maxQueued = options.maxQueuedItems ?? 4096;
    this.scheduler = options.scheduler ?? realScheduler;
    if (this.maxBatchSize < 1) throw new RangeError('maxBatchSize must be at least 1');
  }

  /** Batches in flight now. */
  get inflight(): number {
    return this.inflightCount;
  }

  /**
   * Adds `item` to the open batch of `key` and resolves with its own result.
   * @throws ClientClosedError when `signal` aborts first; the item leaves its batch if it has
   * not been dispatched, and only its result is dropped if it has.
   */
  load(key: string, item: I, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(new ClientClosedError());
    if (this.queued >= this.maxQueued) {
      this.options.hooks?.rejected?.('queue_full');
      return Promise.reject(this.queueFull());
    }
    this.queued++;
    return new Promise<O>((resolve, reject) => {
      const waiter: Waiter<I, O> = {
        item,
        enqueuedAt: this.scheduler.now(),
        resolve,
        reject,
        done: false,
      };
      const batch = this.openBatch(key);
      batch.waiters.push(waiter);
      if (signal) this.watchAbort(batch, waiter, signal);
      if (batch.waiters.length >= this.maxBatchSize) this.dispatch(batch, 'full');
      else if (!batch.soonPending && this.inflightCount < this.maxInflight) {
        batch.soonPending = true;
        this.scheduler.soon(() => {
          batch.soonPending = false;
          if (this.open.get(key) === batch && this.inflightCount < this.maxInflight)
            this.dispatch(batch, 'slot');
        });
      }
    });
  }

  private openBatch(key: string): Batch<I, O> {
    const existing = this.open.get(key);
    if (existing) return existing;
    const batch: Batch<I, O> = {
      key,
      waiters: [],
      soonPending: false,
      cancelTimer: () => {},
    };
    batch.cancelTimer = this.scheduler.after(this.maxDelayMs, () => {
      if (this.open.get(key) === batch) this.dispatch(batch, 'timer');
    });
    this.open.set(key, batch);
    return batch;
  }

  private watchAbort(batch: Batch<I, O>, waiter: Waiter<I, O>, signal: AbortSignal): void {
    const onAbort = () => {
      if (waiter.done) return;
      if (!batch.controller) {
        // Not yet dispatched: the item leaves, and an emptied batch is dropped with its timer.
        batch.waiters.splice(batch.waiters.indexOf(waiter), 1);
        this.queued--;
        if (batch.waiters.length === 0 && this.open.get(batch.key) === batch) {
          this.open.delete(batch.key);
          batch.cancelTimer();
        }
        if (batch.waiters.length === 0 && batch.ready)
          this.ready.splice(this.ready.indexOf(batch), 1);
      }
      this.settle(waiter, () => waiter.reject(new ClientClosedError()));
      // The upstream call goes on for the others; it is cancelled only when nobody is left.
      if (batch.controller && batch.waiters.every((w) => w.done)) batch.controller.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    waiter.leave = () => signal.removeEventListener('abort', onAbort);
  }

  private settle(waiter: Waiter<I, O>, deliver: () => void): void {
    if (waiter.done) return;
    waiter.done = true;
    waiter.leave?.();
    deliver();
  }

  private dispatch(batch: Batch<I, O>, reason: DispatchReason): void {
    if (this.inflightCount >= this.maxConcurrent) return this.hold(batch, reason);
    if (this.open.get(batch.key) === batch) this.open.delete(batch.key);
    batch.cancelTimer();
    batch.ready = undefined;
    const waiters = batch.waiters;
    if (waiters.length === 0) return;
    this.queued -= waiters.length;
    const controller = new AbortController();
    batch.controller = controller;
    const now = this.scheduler.now();
    const hooks = this.options.hooks;
    for (const w of waiters) hooks?.queueWait?.(now - w.enqueuedAt);
    hooks?.batch?.({ size: waiters.length, reason });
    this.inflightCount++;
    hooks?.inflight?.(1);

    const failAll = (error: unknown) => {
      for (const w of waiters) this.settle(w, () => w.reject(error));
    };
    // Wrapped so that a batch function that throws synchronously still fails every waiter.
    Promise.resolve()
      .then(() =>
        this.options.batchFn(
          waiters.map((w) => w.item),
          batch.key,
          controller.signal,
        ),
      )
      .then((results) => {
        if (!Array.isArray(results) || results.length !== waiters.length) {
          // No delivery by position on a malformed answer: every member fails.
          const got = Array.isArray(results) ? results.length : -1;
          failAll(this.mismatch(got, waiters.length));
          return;
        }
        waiters.forEach((w, i) => {
          const r = results[i] as O | Error;
          this.settle(w, () => (r instanceof Error ? w.reject(r) : w.resolve(r)));
        });
      }, failAll)
      .finally(() => {
        this.inflightCount--;
        hooks?.inflight?.(-1);
        this.noteDrained(waiters.length);
        this.next();
      });
  }

  private mismatch(got: number, expected: number): Error {
    return (
      this.options.mismatch?.(got, expected) ??
      new UpstreamError(`The model returned ${got} results for ${expected} inputs.`, {
        code: 'batch_size_mismatch',
      })
    );
  }

  /**
   * At the hard cap nothing more goes upstream. A batch whose timer fired stays open and keeps
   * filling (its members wait for a slot either way); a full one closes and waits in line.
   */
  private hold(batch: Batch<I, O>, reason: DispatchReason): void {
    if (reason === 'timer') {
      batch.due = true;
      return;
    }
    if (this.open.get(batch.key) === batch) {
      this.open.delete(batch.key);
      batch.cancelTimer();
    }
    batch.ready = reason;
    this.ready.push(batch);
  }

  /**
   * A slot came free: a full batch held at the hard cap leaves first, then an open one whose
   * timer already fired, else (below `maxInflightBatches`) the oldest open batch.
   */
  private next(): void {
    const held = this.ready.shift();
    if (held) return this.dispatch(held, held.ready ?? 'full');
    for (const batch of this.open.values()) if (batch.due) return this.dispatch(batch, 'timer');
    if (this.inflightCount >= this.maxInflight) return;
    const oldest = this.open.values().next();
    if (!oldest.done) this.dispatch(oldest.value, 'slot');
  }

  /** Items per millisecond over recent completions (an exponentially weighted average). */
  private noteDrained(items: number): void {
    const now = this.scheduler.now();
    if (this.lastDrainAt !== undefined) {
      const rate = items / Math.max(1, now - this.lastDrainAt);
      this.drainPerMs = this.drainPerMs === 0 ? rate : 0.8 * this.drainPerMs + 0.2 * rate;
    }
    this.lastDrainAt = now;
  }

  private queueFull(): RateLimitError {
    // How long the items ahead take to leave at the recent drain rate; 1 s when unknown.
    const seconds = this.drainPerMs > 0 ? this.queued / this.drainPerMs / 1000 : 1;
    return new RateLimitError(
      `${this.options.label ?? 'The model'} has ${this.queued} items waiting; retry later.`,
      Math.min(60, Math.max(1, seconds)),
      { code: 'queue_full' },
    );
  }
}

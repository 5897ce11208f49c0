import { GatewayTimeoutError, RateLimitError } from '../../shared/errors.js';
import { ClientClosedError } from '../../shared/errors.js';
import { realScheduler, type Scheduler } from './scheduler.js';

/** Interactive requests are admitted before batch ones. */
export type Priority = 'interactive' | 'batch';

/** What admission reports, for metrics. All optional. */
export interface AdmissionHooks {
  queueWait?(ms: number): void;
  inflight?(delta: 1 | -1): void;
  rejected?(reason: 'queue_full' | 'queue_timeout' | 'client_closed'): void;
}

export interface AdmissionOptions {
  /** Requests in flight at once (the engine's continuous-batching budget). @default 32 */
  maxConcurrency?: number;
  /** Requests waiting before new ones are refused with 429. @default 256 */
  maxQueue?: number;
  /** Longest a request waits for a slot before it fails with 504. @default 30000 */
  queueTimeoutMs?: number;
  /** Names the target in error messages. @default 'the model' */
  label?: string;
  scheduler?: Scheduler;
  hooks?: AdmissionHooks;
}

export interface AdmitRequest {
  signal: AbortSignal;
  /** @default 'interactive' */
  priority?: Priority;
  /** Shorter queue deadline for this request, in ms from now; the configured one caps it. */
  timeoutMs?: number;
}

/** Gives the slot back. Calling it more than once is harmless. */
export type Release = () => void;

interface Ticket {
  enqueuedAt: number;
  grant(release: Release): void;
  fail(error: Error): void;
}

/** Completions remembered to estimate how fast the queue drains. */
const DRAIN_WINDOW = 32;

/**
 * Admission control for continuous-batching engines: at most `maxConcurrency` requests in
 * flight, a bounded FIFO per priority class with a deadline per request, and fast refusals, so
 * that overload becomes a 429 with an honest `Retry-After` instead of a pile-up at the GPU.
 *
 * @example
 * const release = await admission.acquire({ signal, priority: 'interactive' });
 * try { return await invoke(); } finally { release(); }
 */
export class Admission {
  private readonly queues: Record<Priority, Ticket[]> = { interactive: [], batch: [] };
  private readonly maxConcurrency: number;
  private readonly maxQueue: number;
  private readonly queueTimeoutMs: number;
  private readonly scheduler: Scheduler;
  private readonly completions: number[] = [];
  private running = 0;

  constructor(private readonly options: AdmissionOptions = {}) {
    this.maxConcurrency = options.maxConcurrency ?? 32;
    this.maxQueue = options.maxQueue ?? 256;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 30_000;
    this.scheduler = options.scheduler ?? realScheduler;
  }

  /** Requests holding a slot now. */
  get inflight(): number {
    return this.running;
  }

  /** Requests waiting now. */
  get queued(): number {
    return this.queues.interactive.length + this.queues.batch.length;
  }

  /**
   * Waits for a slot.
   * @throws RateLimitError (429, `queue_full`) when the queue is full
   * @throws GatewayTimeoutError (504, `queue_timeout`) when the deadline passes in the queue
   * @throws ClientClosedError when `signal` aborts while queued
   */
  acquire(request: AdmitRequest): Promise<Release> {
    const hooks = this.options.hooks;
    if (request.signal.aborted) return Promise.reject(new ClientClosedError());
    if (this.running < this.maxConcurrency && this.queued === 0) {
      hooks?.queueWait?.(0);
      return Promise.resolve(this.take());
    }
    if (this.queued >= this.maxQueue) {
      hooks?.rejected?.('queue_full');
      return Promise.reject(
        new RateLimitError(
          `${this.label()} is at capacity; retry later.`,
          this.retryAfterSeconds(),
          { code: 'queue_full' },
        ),
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const queue = this.queues[request.priority ?? 'interactive'];
      const timeoutMs = Math.min(request.timeoutMs ?? Infinity, this.queueTimeoutMs);
      const leave = (error: Error, reason: 'queue_timeout' | 'client_closed') => {
        const at = queue.indexOf(ticket);
        if (at < 0) return;
        queue.splice(at, 1);
        cleanup();
        hooks?.rejected?.(reason);
        ticket.fail(error);
      };
      const onAbort = () => leave(new ClientClosedError(), 'client_closed');
      const cancelTimer = this.scheduler.after(timeoutMs, () =>
        leave(
          new GatewayTimeoutError(`${this.label()} did not take the request in time.`, {
            code: 'queue_timeout',
          }),
          'queue_timeout',
        ),
      );
      const cleanup = () => {
        cancelTimer();
        request.signal.removeEventListener('abort', onAbort);
      };
      const ticket: Ticket = {
        enqueuedAt: this.scheduler.now(),
        grant: (release) => {
          cleanup();
          resolve(release);
        },
        fail: reject,
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      queue.push(ticket);
    });
  }

  /** Runs `fn` holding a slot; the slot is given back when it settles. */
  async run<T>(request: AdmitRequest, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(request);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private take(): Release {
    this.running++;
    this.options.hooks?.inflight?.(1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.options.hooks?.inflight?.(-1);
      this.recordCompletion();
      this.grantNext();
    };
  }

  private grantNext(): void {
    while (this.running < this.maxConcurrency) {
      const ticket = this.queues.interactive.shift() ?? this.queues.batch.shift();
      if (!ticket) return;
      this.options.hooks?.queueWait?.(this.scheduler.now() - ticket.enqueuedAt);
      ticket.grant(this.take());
    }
  }

  private recordCompletion(): void {
    this.completions.push(this.scheduler.now());
    if (this.completions.length > DRAIN_WINDOW) this.completions.shift();
  }

  /** Time for the queue ahead to drain at the recent completion rate, in whole seconds. */
  private retryAfterSeconds(): number {
    const c = this.completions;
    const span = c.length > 1 ? c[c.length - 1]! - c[0]! : 0;
    if (span <= 0) return 1;
    const perMs = (c.length - 1) / span;
    return Math.min(60, Math.max(1, Math.ceil((this.queued + 1) / perMs / 1000)));
  }

  private label(): string {
    return this.options.label ?? 'The model';
  }
}

import { ClientClosedError, GatewayError } from '../../shared/errors.js';
import type { ModelConfig } from '../../shared/config/schema.js';
import type { CircuitBreaker } from '../coalesce/breaker.js';
import type { Scheduler } from '../coalesce/scheduler.js';
import type { ConnectionFailure } from '../invoke/map-error.js';
import type { RetryReason } from '../metrics/metrics.js';

export type RetryOptions = ModelConfig['retry'];

/**
 * Why a failed upstream call may be made again, or `undefined` when it may not. Only failures
 * that say the call was not served: the endpoint's throttling (429 from SageMaker, not from the
 * container), 503 (not ready, unavailable, nothing listening) and a reset connection. Never a
 * container's own answer (`details.originalStatus`: a 4xx is the input's fault, a 5xx may be
 * too), never the gateway's or the client's own errors. Read off `origin` and `status`, never
 * the code.
 */
export const retryReason = (error: unknown): RetryReason | undefined => {
  if (!(error instanceof GatewayError) || error.origin !== 'upstream') return undefined;
  const details = error.details ?? {};
  if (typeof details.originalStatus === 'number') return undefined;
  const connection = details.connection as ConnectionFailure | undefined;
  if (error.status === 429) return 'throttled';
  if (error.status === 503) return connection === 'refused' ? 'refused' : 'unavailable';
  if (error.status === 502 && connection === 'reset') return 'reset';
  return undefined;
};

/** The upstream's own `Retry-After`, in ms, where the failed call carried one. */
export const upstreamRetryAfterMs = (error: unknown): number | undefined => {
  const value = error instanceof GatewayError ? error.details?.retryAfterMs : undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

/**
 * The wait before retry number `retry` (1 for the first): full jitter over an exponential
 * ceiling (`baseDelayMs · 2^(retry−1)`, capped at `maxDelayMs`), and never shorter than the
 * upstream's `Retry-After`. `undefined` when the upstream asks for longer than `maxDelayMs`:
 * that call is not retried.
 */
export const backoffMs = (
  options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>,
  retry: number,
  random: () => number,
  retryAfterMs?: number,
): number | undefined => {
  if (retryAfterMs !== undefined && retryAfterMs > options.maxDelayMs) return undefined;
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
  return Math.max(random() * ceiling, retryAfterMs ?? 0);
};

/** Buckets of the sliding window: it slides in tenths. */
const BUCKETS = 10;

/**
 * A per-model retry budget over a sliding window: retries may add at most `budgetPercent` of the
 * first attempts seen in the window (and `budgetMinRetries` whatever the traffic), so a failing
 * endpoint sees at most that many extra calls instead of a multiple of its load.
 */
export class RetryBudget {
  private readonly firsts = new Array<number>(BUCKETS).fill(0);
  private readonly retries = new Array<number>(BUCKETS).fill(0);
  private slot = 0;
  private slotStart: number;
  private readonly slotMs: number;

  constructor(
    private readonly options: Pick<
      RetryOptions,
      'budgetPercent' | 'budgetMinRetries' | 'budgetWindowMs'
    >,
    private readonly now: () => number,
  ) {
    this.slotMs = options.budgetWindowMs / BUCKETS;
    this.slotStart = now();
  }

  /** Counts a first attempt. */
  first(): void {
    this.advance();
    this.firsts[this.slot]!++;
  }

  /** Takes one retry from the budget; `false` when the window's share is spent. */
  withdraw(): boolean {
    this.advance();
    const firsts = sum(this.firsts);
    const allowed = Math.max(
      this.options.budgetMinRetries,
      Math.floor((firsts * this.options.budgetPercent) / 100),
    );
    if (sum(this.retries) >= allowed) return false;
    this.retries[this.slot]!++;
    return true;
  }

  /** Moves the window to now, emptying the buckets it left behind. */
  private advance(): void {
    const elapsed = Math.floor((this.now() - this.slotStart) / this.slotMs);
    if (elapsed <= 0) return;
    for (let i = 0; i < Math.min(elapsed, BUCKETS); i++) {
      this.slot = (this.slot + 1) % BUCKETS;
      this.firsts[this.slot] = 0;
      this.retries[this.slot] = 0;
    }
    this.slotStart += elapsed * this.slotMs;
  }
}

const sum = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);

/**
 * When every upstream call of one request must have ended, on the scheduler's clock: set by the
 * first attempt (its start plus the model's `timeoutMs`), shared by its retries and by a
 * failover to another target, so that retrying never stretches a request past its timeout.
 */
export interface UpstreamWindow {
  until?: number;
}

export interface AttemptsDeps {
  options: RetryOptions;
  budget: RetryBudget;
  breaker: CircuitBreaker;
  scheduler: Scheduler;
  random: () => number;
  /** Counts one retry (the metrics' `retry` event, with the target's labels). */
  onRetry: (reason: RetryReason) => void;
  timeoutMs: number;
}

/**
 * The upstream calls of one pipeline: each attempt guarded by the target's breaker (every failure
 * recorded), retried per {@link retryReason} with {@link backoffMs}, within the request's
 * {@link UpstreamWindow}, the model's attempts and its {@link RetryBudget}. A retry stays on the
 * same target while its circuit is closed; once it opens, the error goes up, and the service may
 * fail the request over to another target.
 */
export class UpstreamAttempts {
  constructor(private readonly deps: AttemptsDeps) {}

  /**
   * Runs `call` (given the time left, in ms) until it succeeds or may not be retried.
   * @param recordSuccess whether a success closes the breaker here (streams record at their end)
   */
  async run<T>(
    window: UpstreamWindow,
    signal: AbortSignal,
    call: (timeoutMs: number) => Promise<T>,
    recordSuccess = true,
  ): Promise<T> {
    const { scheduler, breaker, budget } = this.deps;
    if (window.until === undefined) {
      window.until = scheduler.now() + this.deps.timeoutMs;
      budget.first();
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await call(Math.max(1, Math.round(window.until - scheduler.now())));
        if (recordSuccess) breaker.record(undefined);
        return result;
      } catch (error) {
        breaker.record(error);
        const reason = retryReason(error);
        const wait = reason && this.waitBefore(attempt, error, window.until, signal);
        if (wait === undefined) throw error;
        this.deps.onRetry(reason!);
        await sleep(scheduler, wait, signal);
      }
    }
  }

  /** The backoff before the next attempt, or `undefined` when there is none to make. */
  private waitBefore(
    attempt: number,
    error: unknown,
    until: number,
    signal: AbortSignal,
  ): number | undefined {
    const { options, breaker, scheduler, random, budget } = this.deps;
    if (attempt >= options.maxAttempts || signal.aborted || breaker.state !== 'closed')
      return undefined;
    const wait = backoffMs(options, attempt, random, upstreamRetryAfterMs(error));
    if (wait === undefined || scheduler.now() + wait >= until) return undefined;
    return budget.withdraw() ? wait : undefined;
  }
}

/** Waits on the scheduler; a caller that leaves ends the wait with `ClientClosedError`. */
const sleep = (scheduler: Scheduler, ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(new ClientClosedError());
    };
    const cancel = scheduler.after(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });

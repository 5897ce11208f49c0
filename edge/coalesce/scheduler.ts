/**
 * How the coalescer waits. Injected so that tests can drive time by hand instead of sleeping,
 * as dataloader injects its `batchScheduleFn`.
 */
export interface Scheduler {
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void;
  /**
   * Runs `fn` once the current burst of I/O callbacks has been handled, so that requests that
   * arrived together can still join one batch before it leaves.
   */
  soon(fn: () => void): void;
  /** Milliseconds on a monotonic clock, for queue-wait metrics and drain rates. */
  now(): number;
}

/** Timers and `setImmediate` of the running Node process. */
export const realScheduler: Scheduler = {
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  soon(fn) {
    setImmediate(fn);
  },
  now: () => performance.now(),
};

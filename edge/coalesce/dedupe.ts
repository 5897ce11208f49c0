import { ClientClosedError } from '../../shared/errors.js';

interface Entry<T> {
  promise: Promise<T>;
  controller: AbortController;
  sharers: number;
}

/**
 * Lets identical in-flight requests share one upstream call. The key must hold everything
 * that shapes the answer, the tenant included: the caller decides what is deterministic.
 * Entries leave the map when the call settles, so nothing is cached beyond the flight.
 * A caller that aborts leaves on its own; the shared call is aborted only when every sharer
 * has gone.
 *
 * @example
 * const result = await dedupe.run(`${tenant}\n${body}`, signal, (s) => invoke(body, s));
 */
export class Dedupe<T> {
  private readonly inflight = new Map<string, Entry<T>>();

  /** Calls in flight now. */
  get size(): number {
    return this.inflight.size;
  }

  /** @throws ClientClosedError when `signal` aborts before the shared call settles */
  run(key: string, signal: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(new ClientClosedError());
    let entry = this.inflight.get(key);
    if (!entry) {
      const controller = new AbortController();
      const created: Entry<T> = {
        controller,
        sharers: 0,
        promise: Promise.resolve()
          .then(() => call(controller.signal))
          .finally(() => {
            if (this.inflight.get(key) === created) this.inflight.delete(key);
          }),
      };
      // Sharers each attach their own handlers; this keeps an orphaned failure from being unhandled.
      created.promise.catch(() => {});
      this.inflight.set(key, created);
      entry = created;
    }
    const shared = entry;
    shared.sharers++;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const onAbort = () => {
        if (done) return;
        done = true;
        reject(new ClientClosedError());
        if (--shared.sharers === 0) {
          // Nobody is left: drop the entry first so a newcomer starts a fresh call.
          if (this.inflight.get(key) === shared) this.inflight.delete(key);
          shared.controller.abort();
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      shared.promise.then(
        (value) => {
          if (done) return;
          done = true;
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          if (done) return;
          done = true;
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }
}

import { EndpointFault } from '../endpoint/backend.js';

/**
 * At most `slots` holders at once, at most `maxWaiting` waiting, first come first served. A full
 * queue answers as TGI does when overloaded (429 from the container, so `ModelError` upstream);
 * a caller that aborts while waiting leaves the queue.
 */
export class Admission {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly slots: number,
    private readonly maxWaiting: number,
  ) {}

  /** Waits for a slot; call the returned function exactly once to give it back. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw new EndpointFault('internal', 'The caller went away.');
    if (this.active < this.slots) {
      this.active++;
      return this.releaser();
    }
    if (this.waiting.length >= this.maxWaiting) {
      throw new EndpointFault('model', 'Model is overloaded', 429);
    }
    await new Promise<void>((resolve, reject) => {
      const admit = () => {
        signal.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        const index = this.waiting.indexOf(admit);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(new EndpointFault('internal', 'The caller went away.'));
      };
      this.waiting.push(admit);
      signal.addEventListener('abort', leave, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `active` only drops when none waits.
      if (next) next();
      else this.active--;
    };
  }
}

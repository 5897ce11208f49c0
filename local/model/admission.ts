import { Admission as GatewayAdmission } from '../../edge/coalesce/admission.js';
import { RateLimitError } from '../../shared/errors.js';
import { EndpointFault } from '../endpoint/backend.js';

/**
 * The container's own admission, on the gateway's mechanism: at most `slots` holders at once,
 * at most `maxWaiting` waiting, first come first served. Its refusals are re-worded as a
 * container's: a full queue is TGI's "Model is overloaded" (429, a `ModelError` upstream), and a
 * caller that leaves while waiting is dropped from the queue.
 */
export class Admission {
  private readonly inner: GatewayAdmission;

  constructor(slots: number, maxWaiting: number) {
    // A container queues until the caller gives up; the gateway's own deadline bounds the wait.
    this.inner = new GatewayAdmission({
      maxConcurrency: slots,
      maxQueue: maxWaiting,
      queueTimeoutMs: 600_000,
    });
  }

  /** Waits for a slot; call the returned function exactly once to give it back. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    try {
      return await this.inner.acquire({ signal });
    } catch (error) {
      if (error instanceof RateLimitError)
        throw new EndpointFault('model', 'Model is overloaded', 429);
      throw new EndpointFault('internal', 'The caller went away.');
    }
  }
}

import type { ModelInvoker } from '../invoke/invoker.js';
import type { Clock } from '../types.js';

export type EndpointHealthState = 'ready' | 'unavailable' | 'timeout';

/**
 * Endpoint health for `/readyz` and the admin API, probed through the invoker's `checkReady`
 * and reused for `cacheMs`, because `DescribeEndpoint` has a low request quota. One instance per
 * app, so both readers share the probes.
 */
export class EndpointHealth {
  private readonly cache = new Map<string, { at: number; state: Promise<EndpointHealthState> }>();
  private readonly cacheMs: number;

  /** @param options.cacheMs @default 5000 */
  constructor(
    private readonly options: {
      invoker: ModelInvoker;
      clock: Clock;
      timeoutMs: number;
      cacheMs?: number;
    },
  ) {
    this.cacheMs = options.cacheMs ?? 5000;
  }

  of(endpoint: string): Promise<EndpointHealthState> {
    const now = this.options.clock.now();
    const hit = this.cache.get(endpoint);
    if (hit && now - hit.at < this.cacheMs) return hit.state;
    const state = this.options.invoker.checkReady(endpoint, this.options.timeoutMs).then(
      () => 'ready' as const,
      (err: Error) =>
        err?.name === 'TimeoutError' || err?.name === 'AbortError'
          ? ('timeout' as const)
          : ('unavailable' as const),
    );
    this.cache.set(endpoint, { at: now, state });
    return state;
  }
}

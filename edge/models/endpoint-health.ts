import type { InvokeTarget, ModelInvoker } from '../invoke/invoker.js';
import type { Clock } from '../types.js';

export type EndpointHealthState = 'ready' | 'unavailable' | 'timeout';

/**
 * Target health for `/readyz` and the admin API (the endpoint, and the inference component where
 * the target names one), probed through the invoker's `checkReady` and reused for `cacheMs`,
 * because `DescribeEndpoint` and `DescribeInferenceComponent` have low request quotas. One
 * instance per app, so both readers share the probes.
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

  of(target: InvokeTarget): Promise<EndpointHealthState> {
    const now = this.options.clock.now();
    const key = targetName(target);
    const hit = this.cache.get(key);
    if (hit && now - hit.at < this.cacheMs) return hit.state;
    const probe = {
      endpoint: target.endpoint,
      variant: undefined,
      inferenceComponent: target.inferenceComponent,
    };
    const state = this.options.invoker.checkReady(probe, this.options.timeoutMs).then(
      () => 'ready' as const,
      (err: Error) =>
        err?.name === 'TimeoutError' || err?.name === 'AbortError'
          ? ('timeout' as const)
          : ('unavailable' as const),
    );
    this.cache.set(key, { at: now, state });
    return state;
  }
}

/** How `/readyz` names a target: `endpoint`, or `endpoint/inference-component`. */
export const targetName = (t: Pick<InvokeTarget, 'endpoint' | 'inferenceComponent'>): string =>
  t.inferenceComponent ? `${t.endpoint}/${t.inferenceComponent}` : t.endpoint;

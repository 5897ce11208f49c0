import { CircuitBreaker, type BreakerState } from '../coalesce/breaker.js';
import type { Clock } from '../types.js';
import type { ModelRegistry, ModelRuntime, TargetRuntime } from './registry.js';

/**
 * The circuit breakers of a gateway, one per model and target, created on first use: a failing
 * endpoint is failed fast for every payload class that uses it.
 */
export class TargetBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly clock: Clock,
  ) {}

  of(model: ModelRuntime, target: TargetRuntime): CircuitBreaker {
    const key = keyOf(model, target);
    let breaker = this.breakers.get(key);
    if (!breaker) {
      breaker = new CircuitBreaker({
        ...model.config.breaker,
        clock: this.clock,
        label: `Model '${model.config.id}'`,
      });
      this.breakers.set(key, breaker);
    }
    return breaker;
  }

  /** Runs one upstream call and tells the target's breaker how it went. */
  async guarded<T>(model: ModelRuntime, target: TargetRuntime, call: () => Promise<T>): Promise<T> {
    const breaker = this.of(model, target);
    try {
      const result = await call();
      breaker.record(undefined);
      return result;
    } catch (error) {
      breaker.record(error);
      throw error;
    }
  }

  /** Circuit state of each of a model's targets, by target id (`closed` before any traffic). */
  states(modelId: string): Record<string, BreakerState> {
    const model = this.registry.require(modelId);
    return Object.fromEntries(
      model.targets.map((t) => [t.id, this.breakers.get(keyOf(model, t))?.state ?? 'closed']),
    );
  }

  /** Closes every circuit of a model (the operator's reset). */
  reset(modelId: string): void {
    const model = this.registry.require(modelId);
    for (const t of model.targets) this.breakers.get(keyOf(model, t))?.reset();
  }
}

const keyOf = (model: ModelRuntime, target: TargetRuntime): string =>
  [model.config.id, target.id, target.endpoint, target.variant ?? ''].join('\n');

import type { BreakerState } from '../coalesce/breaker.js';
import { TargetPipeline, type PipelineDeps } from './pipeline.js';
import type { ModelRegistry, ModelRuntime, TargetRuntime } from './registry.js';
import { RetryBudget } from './retry.js';

/**
 * The gateway's target pipelines, one per model and target, built on first use. A target is its
 * endpoint, variant and inference component: a target id pointed elsewhere gets a new pipeline
 * (and a closed circuit), never the old one's state.
 */
export class PipelinePool {
  private readonly pipelines = new Map<string, TargetPipeline>();
  /** One retry budget per model, shared by its targets (and by failovers between them). */
  private readonly budgets = new Map<string, RetryBudget>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly deps: PipelineDeps,
  ) {}

  of(model: ModelRuntime, target: TargetRuntime): TargetPipeline {
    const key = keyOf(model, target);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      pipeline = new TargetPipeline(model.config, target, this.deps, this.budgetOf(model));
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** The pipeline of a target if one was built: an unused target's circuit is closed. */
  peek(model: ModelRuntime, target: TargetRuntime): TargetPipeline | undefined {
    return this.pipelines.get(keyOf(model, target));
  }

  /** The pipelines' monotonic clock (ms). */
  now(): number {
    return this.deps.scheduler.now();
  }

  budgetOf(model: ModelRuntime): RetryBudget {
    let budget = this.budgets.get(model.config.id);
    if (!budget) {
      budget = new RetryBudget(model.config.retry, this.deps.scheduler.now);
      this.budgets.set(model.config.id, budget);
    }
    return budget;
  }

  /** The circuit breakers, as the admin API reads and resets them. */
  readonly breakers = {
    /** Circuit state of each of a model's targets, by target id (`closed` before any traffic). */
    states: (modelId: string): Record<string, BreakerState> => {
      const model = this.registry.require(modelId);
      return Object.fromEntries(
        model.targets.map((t) => [
          t.id,
          this.pipelines.get(keyOf(model, t))?.breaker.state ?? 'closed',
        ]),
      );
    },
    /** Closes every circuit of a model (the operator's reset). */
    reset: (modelId: string): void => {
      const model = this.registry.require(modelId);
      for (const t of model.targets) this.pipelines.get(keyOf(model, t))?.breaker.reset();
    },
  };
}

const keyOf = (model: ModelRuntime, target: TargetRuntime): string =>
  [
    model.config.id,
    target.id,
    target.endpoint,
    target.variant ?? '',
    target.inferenceComponent ?? '',
  ].join('\n');

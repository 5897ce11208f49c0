import { ServiceUnavailableError } from '../../shared/errors.js';
import type { Clock, Logger } from '../types.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type {
  GenerationChunk,
  GenerationRequest,
  GenerationResult,
} from '../formats/generation.js';
import type { ModelInvoker } from '../invoke/invoker.js';
import { realScheduler, type Scheduler } from '../coalesce/scheduler.js';
import type { InferenceContext, TargetPipeline } from './pipeline.js';
import { PipelinePool } from './pool.js';
import type { ModelRegistry, ModelRuntime } from './registry.js';

export type { InferenceContext } from './pipeline.js';

export interface ModelServiceDeps {
  registry: ModelRegistry;
  invoker: ModelInvoker;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Timers of the coalescers. @default the Node process's timers */
  scheduler?: Scheduler;
}

/**
 * Runs inference for the routes: refuses work for a paused or draining model, picks a target by
 * weight, and hands the call to that target's pipeline (codec, breaker, coalescer, invoke).
 */
export class ModelService {
  private readonly pool: PipelinePool;

  constructor(private readonly deps: ModelServiceDeps) {
    this.pool = new PipelinePool(deps.registry, {
      invoker: deps.invoker,
      clock: deps.clock,
      metrics: deps.metrics,
      scheduler: deps.scheduler ?? realScheduler,
    });
  }

  /** The targets' circuit breakers, for the admin API. */
  get breakers(): PipelinePool['breakers'] {
    return this.pool.breakers;
  }

  embed(
    model: ModelRuntime,
    inputs: readonly string[],
    ctx: InferenceContext,
  ): Promise<number[][]> {
    return this.route(model).embed(inputs, ctx);
  }

  generate(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): Promise<GenerationResult> {
    return this.route(model).generate(request, ctx);
  }

  generateStream(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): AsyncGenerator<GenerationChunk, void, undefined> {
    return this.route(model).generateStream(request, ctx);
  }

  /** Refuses new work for a paused or draining model, then picks a target by weight. */
  private route(model: ModelRuntime): TargetPipeline {
    const current = this.deps.registry.require(model.config.id);
    if (current.state !== 'serving') {
      throw new ServiceUnavailableError(
        `Model '${current.config.id}' is ${current.state}; retry later.`,
        30,
        { code: `model_${current.state}` },
      );
    }
    const pipeline = this.pool.of(current, this.deps.registry.pick(current));
    pipeline.breaker.admit();
    return pipeline;
  }
}

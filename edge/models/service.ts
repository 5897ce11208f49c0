import { GatewayError, ServiceUnavailableError } from '../../shared/errors.js';
import type { Clock, Logger } from '../types.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type {
  GenerationChunk,
  GenerationRequest,
  GenerationResult,
} from '../formats/generation.js';
import type { ModelInvoker } from '../invoke/invoker.js';
import { realScheduler, type Scheduler } from '../coalesce/scheduler.js';
import type { GatewayTracer } from '../tracing/tracer.js';
import type { InferenceContext, TargetPipeline } from './pipeline.js';
import { PipelinePool } from './pool.js';
import type { ModelRegistry, ModelRuntime, TargetRuntime } from './registry.js';

export type { InferenceContext } from './pipeline.js';

export interface ModelServiceDeps {
  registry: ModelRegistry;
  invoker: ModelInvoker;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Timers of the coalescers and retries. @default the Node process's timers */
  scheduler?: Scheduler;
  /** Jitter of retry backoffs. @default Math.random */
  random?: () => number;
  /** A client span per upstream call. @default none */
  tracer?: GatewayTracer;
}

/**
 * Runs inference for the routes: refuses work for a paused or draining model, picks a target by
 * weight, failing over from targets whose circuit is open, and hands the call to that target's
 * pipeline (codec, breaker, coalescer, invoke with retries). A call whose failure opens its
 * target's circuit before anything reached the client goes once to another target.
 */
export class ModelService {
  private readonly pool: PipelinePool;

  constructor(private readonly deps: ModelServiceDeps) {
    this.pool = new PipelinePool(deps.registry, {
      invoker: deps.invoker,
      clock: deps.clock,
      metrics: deps.metrics,
      logger: deps.logger,
      scheduler: deps.scheduler ?? realScheduler,
      ...(deps.random ? { random: deps.random } : {}),
      ...(deps.tracer ? { tracer: deps.tracer } : {}),
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
    return this.withFailover(model, ctx, (p) => p.embed(inputs, ctx));
  }

  generate(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): Promise<GenerationResult> {
    return this.withFailover(model, ctx, (p) => p.generate(request, ctx));
  }

  /** A stream fails over only before its first chunk: after that the client holds the answer. */
  async *generateStream(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): AsyncGenerator<GenerationChunk, void, undefined> {
    const pipeline = this.route(model);
    let stream = pipeline.generateStream(request, ctx);
    let head: IteratorResult<GenerationChunk>;
    try {
      head = await stream.next();
    } catch (error) {
      const next = this.failoverAfter(model, pipeline, error, ctx);
      if (!next) throw error;
      stream = next.generateStream(request, ctx);
      head = await stream.next();
    }
    if (head.done) return;
    yield head.value;
    yield* stream;
  }

  private async withFailover<T>(
    model: ModelRuntime,
    ctx: InferenceContext,
    run: (pipeline: TargetPipeline) => Promise<T>,
  ): Promise<T> {
    const pipeline = this.route(model);
    try {
      return await run(pipeline);
    } catch (error) {
      const next = this.failoverAfter(model, pipeline, error, ctx);
      if (!next) throw error;
      return run(next);
    }
  }

  /**
   * Refuses new work for a paused or draining model, then picks a target by weight among those
   * whose circuit lets a call through (a half-open one takes its probe), counting a failover
   * when the weighted choice was out.
   * @throws ServiceUnavailableError 503 `circuit_open` when every target with weight is out
   */
  private route(model: ModelRuntime): TargetPipeline {
    const current = this.deps.registry.require(model.config.id);
    if (current.state !== 'serving') {
      throw new ServiceUnavailableError(
        `Model '${current.config.id}' is ${current.state}; retry later.`,
        30,
        { code: `model_${current.state}` },
      );
    }
    const { intended, target } = this.deps.registry.pick(current, (t) =>
      this.available(current, t),
    );
    if (!target) {
      // Every target is out: the weighted choice's own refusal, with its Retry-After.
      const pipeline = this.pool.of(current, intended);
      pipeline.breaker.admit();
      return pipeline;
    }
    if (target !== intended) {
      this.pool.of(current, intended).breaker.refused();
      this.failedOver(current, intended, target);
    }
    const pipeline = this.pool.of(current, target);
    pipeline.breaker.admit();
    return pipeline;
  }

  /**
   * Another target for a call whose upstream failure left its target's circuit open (this
   * failure opened it, or it was the half-open probe), when nothing reached the client yet, the
   * request has time left and the model's retry budget allows one more upstream call.
   */
  private failoverAfter(
    model: ModelRuntime,
    failed: TargetPipeline,
    error: unknown,
    ctx: InferenceContext,
  ): TargetPipeline | undefined {
    if (!(error instanceof GatewayError) || error.origin !== 'upstream' || error.status < 500)
      return undefined;
    if (failed.breaker.state === 'closed' || ctx.signal.aborted) return undefined;
    const until = ctx.upstream?.until;
    if (until !== undefined && this.pool.now() >= until) return undefined;
    const current = this.deps.registry.get(model.config.id);
    if (!current || current.state !== 'serving') return undefined;
    const { target } = this.deps.registry.pick(
      current,
      (t) => t.id !== failed.target.id && this.available(current, t),
    );
    if (!target || !this.pool.budgetOf(current).withdraw()) return undefined;
    this.failedOver(current, failed.target, target);
    const pipeline = this.pool.of(current, target);
    pipeline.breaker.admit();
    return pipeline;
  }

  private available(model: ModelRuntime, target: TargetRuntime): boolean {
    return this.pool.peek(model, target)?.breaker.available() ?? true;
  }

  private failedOver(model: ModelRuntime, from: TargetRuntime, to: TargetRuntime): void {
    this.deps.metrics.failover({ model: model.config.id, from: from.id, to: to.id });
  }
}

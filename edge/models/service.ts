import { ServiceUnavailableError } from '../../shared/errors.js';
import type { Clock, Logger } from '../types.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type {
  GenerationChunk,
  GenerationRequest,
  GenerationResult,
} from '../formats/generation.js';
import { parseTgiResponse, parseTgiStreamEvent, toTgiRequest } from '../formats/tgi.js';
import { parseTeiResponse, toTeiRequest } from '../formats/tei.js';
import type { ModelInvoker } from '../invoke/invoker.js';
import type { ModelRegistry, ModelRuntime, TargetRuntime } from './registry.js';

/** What the caller brings to one inference call besides its input. */
export interface InferenceContext {
  requestId: string;
  /** Isolation boundary: nothing is shared across tenants. */
  tenant: string;
  /** Aborted when the client disconnects. */
  signal: AbortSignal;
  /** Interactive requests are admitted before batch ones. @default 'interactive' */
  priority?: 'interactive' | 'batch';
}

export interface ModelServiceDeps {
  registry: ModelRegistry;
  invoker: ModelInvoker;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
}

/**
 * Runs inference for the routes: picks the target, translates to the container schema,
 * invokes, translates back. This is the seam where coalescing (batching, admission,
 * de-duplication) sits between the routes and the invoker.
 */
export class ModelService {
  constructor(private readonly deps: ModelServiceDeps) {}

  async embed(
    model: ModelRuntime,
    inputs: readonly string[],
    ctx: InferenceContext,
  ): Promise<number[][]> {
    const target = this.route(model);
    const body = await this.deps.invoker.invoke({
      target,
      body: toTeiRequest(inputs),
      signal: ctx.signal,
      timeoutMs: model.config.timeoutMs,
      modelId: model.config.id,
    });
    return parseTeiResponse(body, inputs.length, model.config.id);
  }

  async generate(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): Promise<GenerationResult> {
    const target = this.route(model);
    const body = await this.deps.invoker.invoke({
      target,
      body: toTgiRequest(request, false),
      signal: ctx.signal,
      timeoutMs: model.config.timeoutMs,
      modelId: model.config.id,
    });
    return parseTgiResponse(body, model.config.id);
  }

  async *generateStream(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): AsyncIterable<GenerationChunk> {
    const target = this.route(model);
    const events = this.deps.invoker.invokeStream({
      target,
      body: toTgiRequest(request, true),
      signal: ctx.signal,
      timeoutMs: model.config.timeoutMs,
      modelId: model.config.id,
    });
    for await (const event of events) yield parseTgiStreamEvent(event, model.config.id);
  }

  /** Refuses new work for a paused or draining model, then picks a target by weight. */
  private route(model: ModelRuntime): TargetRuntime {
    const current = this.deps.registry.require(model.config.id);
    if (current.state !== 'serving') {
      throw new ServiceUnavailableError(
        `Model '${current.config.id}' is ${current.state}; retry later.`,
        30,
        {
          code: `model_${current.state}`,
        },
      );
    }
    return this.deps.registry.pick(current);
  }
}

import { ServiceUnavailableError, UpstreamError } from '../../shared/errors.js';
import type { ModelConfig } from '../../shared/config/schema.js';
import type { Clock, Logger } from '../types.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import {
  isDeterministic,
  type GenerationChunk,
  type GenerationRequest,
  type GenerationResult,
} from '../formats/generation.js';
import { parseTgiResponse, parseTgiStreamEvent, toTgiRequest } from '../formats/tgi.js';
import { parseTeiResponse, toTeiRequest } from '../formats/tei.js';
import type { ModelInvoker } from '../invoke/invoker.js';
import { ClientClosedError } from '../invoke/map-error.js';
import { Admission, type Release } from '../coalesce/admission.js';
import { Batcher } from '../coalesce/batcher.js';
import { Dedupe } from '../coalesce/dedupe.js';
import { realScheduler, type Scheduler } from '../coalesce/scheduler.js';
import { TargetBreakers } from './breakers.js';
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
  /** Latest moment (clock ms) to leave the admission queue; the model's `queueTimeoutMs` caps it. */
  deadline?: number;
}

export interface ModelServiceDeps {
  registry: ModelRegistry;
  invoker: ModelInvoker;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Timers of the coalescers. @default the Node process's timers */
  scheduler?: Scheduler;
}

/** The coalescing state of one target: endpoint + variant + payload class. */
interface TargetCoalescer {
  batcher?: Batcher<string, number[]>;
  admission?: Admission;
}

type PayloadClass = 'embed' | 'generate';

/**
 * Runs inference for the routes: picks the target, coalesces, translates to the container
 * schema, invokes, translates back. Each target gets its own coalescer, chosen by the model's
 * `policy`: `batch` joins embedding inputs of many callers into one invocation, `admit` holds a
 * concurrency budget and a bounded queue. Deterministic requests of one tenant that are
 * identical and in flight together share one upstream call when `dedupe` is on.
 */
export class ModelService {
  private readonly coalescers = new Map<string, TargetCoalescer>();
  /** Circuit breakers, one per model and target. */
  readonly breakers: TargetBreakers;
  private readonly embeddings = new Dedupe<number[]>();
  private readonly generations = new Dedupe<GenerationResult>();
  private readonly scheduler: Scheduler;

  constructor(private readonly deps: ModelServiceDeps) {
    this.scheduler = deps.scheduler ?? realScheduler;
    this.breakers = new TargetBreakers(deps.registry, deps.clock);
  }

  async embed(
    model: ModelRuntime,
    inputs: readonly string[],
    ctx: InferenceContext,
  ): Promise<number[][]> {
    const target = this.route(model);
    const config = model.config;
    if (config.policy === 'admit') {
      return this.admitted(model, target, 'embed', ctx, ctx.signal, () =>
        this.breakers.guarded(model, target, async () =>
          parseTeiResponse(
            await this.deps.invoker.invoke({
              target,
              body: toTeiRequest(inputs),
              signal: ctx.signal,
              timeoutMs: config.timeoutMs,
              modelId: config.id,
            }),
            inputs.length,
            config.id,
          ),
        ),
      );
    }
    const batcher = this.batcherFor(model, target);
    // Every input is one item; the batch key holds what shapes the answer besides the input.
    const load = (input: string) => (signal: AbortSignal) => batcher.load('tei', input, signal);
    return Promise.all(
      inputs.map((input) =>
        config.dedupe
          ? this.embeddings.run(
              dedupeKey(ctx.tenant, config, target, input),
              ctx.signal,
              load(input),
            )
          : load(input)(ctx.signal),
      ),
    );
  }

  async generate(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): Promise<GenerationResult> {
    const target = this.route(model);
    const config = model.config;
    const body = toTgiRequest(request, false);
    const call = (signal: AbortSignal) =>
      this.admitted(model, target, 'generate', ctx, signal, () =>
        this.breakers.guarded(model, target, async () =>
          parseTgiResponse(
            await this.deps.invoker.invoke({
              target,
              body,
              signal,
              timeoutMs: config.timeoutMs,
              modelId: config.id,
            }),
            config.id,
          ),
        ),
      );
    if (config.dedupe && isDeterministic(request))
      return this.generations.run(dedupeKey(ctx.tenant, config, target, body), ctx.signal, call);
    return call(ctx.signal);
  }

  async *generateStream(
    model: ModelRuntime,
    request: GenerationRequest,
    ctx: InferenceContext,
  ): AsyncIterable<GenerationChunk> {
    const target = this.route(model);
    const config = model.config;
    // A stream holds its slot until it ends, fails or is abandoned (`return()` runs `finally`).
    const release = await this.acquire(model, target, 'generate', ctx, ctx.signal);
    const breaker = this.breakers.of(model, target);
    let outcome: unknown = new ClientClosedError();
    try {
      const events = this.deps.invoker.invokeStream({
        target,
        body: toTgiRequest(request, true),
        signal: ctx.signal,
        timeoutMs: config.timeoutMs,
        modelId: config.id,
      });
      let finished = false;
      for await (const event of events) {
        const chunk = parseTgiStreamEvent(event, config.id);
        if (chunk.finishReason) finished = true;
        yield chunk;
      }
      // A stream cut short by the caller leaving must never read as a complete answer.
      if (ctx.signal.aborted) throw new ClientClosedError();
      // Nor one the container ended without its closing event (a crash, a cut connection).
      if (!finished) {
        throw new UpstreamError(`The stream from model '${config.id}' ended before it finished.`, {
          code: 'incomplete_stream',
        });
      }
      outcome = undefined;
    } catch (error) {
      outcome = error;
      throw error;
    } finally {
      // A stream abandoned mid-way (`return()`) keeps the ClientClosedError outcome: no verdict.
      breaker.record(outcome);
      release();
    }
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
    const target = this.deps.registry.pick(current);
    this.breakers.of(current, target).admit();
    return target;
  }

  private async admitted<T>(
    model: ModelRuntime,
    target: TargetRuntime,
    payload: PayloadClass,
    ctx: InferenceContext,
    signal: AbortSignal,
    fn: () => Promise<T>,
  ): Promise<T> {
    const release = await this.acquire(model, target, payload, ctx, signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** A slot of the target's admission budget; a no-op for models under the batch policy. */
  private acquire(
    model: ModelRuntime,
    target: TargetRuntime,
    payload: PayloadClass,
    ctx: InferenceContext,
    signal: AbortSignal,
  ): Promise<Release> {
    if (model.config.policy !== 'admit') return Promise.resolve(() => {});
    const admission = this.admissionFor(model, target, payload);
    const timeoutMs =
      ctx.deadline === undefined ? undefined : Math.max(0, ctx.deadline - this.deps.clock.now());
    return admission.acquire({ signal, priority: ctx.priority, timeoutMs });
  }

  private coalescer(model: ModelRuntime, target: TargetRuntime, payload: PayloadClass) {
    const key = [model.config.id, target.id, target.endpoint, target.variant ?? '', payload].join(
      '\n',
    );
    let c = this.coalescers.get(key);
    if (!c) this.coalescers.set(key, (c = {}));
    return c;
  }

  private labels(model: ModelRuntime, target: TargetRuntime) {
    return { model: model.config.id, target: target.id };
  }

  private batcherFor(model: ModelRuntime, target: TargetRuntime): Batcher<string, number[]> {
    const c = this.coalescer(model, target, 'embed');
    if (c.batcher) return c.batcher;
    const { metrics, invoker } = this.deps;
    const config = model.config;
    const labels = this.labels(model, target);
    c.batcher = new Batcher<string, number[]>({
      ...config.batch,
      label: `Model '${config.id}'`,
      scheduler: this.scheduler,
      batchFn: (items, _key, signal) =>
        // parseTeiResponse fails the whole batch on a count mismatch: no delivery by position.
        this.breakers.guarded(model, target, async () =>
          parseTeiResponse(
            await invoker.invoke({
              target,
              body: toTeiRequest(items),
              signal,
              timeoutMs: config.timeoutMs,
              modelId: config.id,
            }),
            items.length,
            config.id,
          ),
        ),
      hooks: {
        batch: (e) => metrics.batch({ ...labels, ...e }),
        inflight: (delta) => metrics.inflight({ ...labels, delta }),
        queueWait: (ms) => metrics.queueWait({ ...labels, ms }),
        rejected: (reason) => metrics.rejected({ model: labels.model, reason }),
      },
    });
    return c.batcher;
  }

  private admissionFor(
    model: ModelRuntime,
    target: TargetRuntime,
    payload: PayloadClass,
  ): Admission {
    const c = this.coalescer(model, target, payload);
    if (c.admission) return c.admission;
    const { metrics } = this.deps;
    const labels = this.labels(model, target);
    c.admission = new Admission({
      ...model.config.admit,
      label: `Model '${model.config.id}'`,
      scheduler: this.scheduler,
      hooks: {
        inflight: (delta) => metrics.inflight({ ...labels, delta }),
        queueWait: (ms) => metrics.queueWait({ ...labels, ms }),
        rejected: (reason) => metrics.rejected({ model: labels.model, reason }),
      },
    });
    return c.admission;
  }
}

/** Everything that shapes an answer, the tenant first: sharing never crosses tenants. */
const dedupeKey = (
  tenant: string,
  config: ModelConfig,
  target: TargetRuntime,
  input: unknown,
): string => JSON.stringify([tenant, config.id, target.id, input]);

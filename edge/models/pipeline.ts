import { ClientClosedError, UpstreamError } from '../../shared/errors.js';
import type { ModelConfig } from '../../shared/config/schema.js';
import { Admission, type Release } from '../coalesce/admission.js';
import { Batcher } from '../coalesce/batcher.js';
import { CircuitBreaker } from '../coalesce/breaker.js';
import { Dedupe } from '../coalesce/dedupe.js';
import type { Scheduler } from '../coalesce/scheduler.js';
import {
  isDeterministic,
  type GenerationChunk,
  type GenerationCodec,
  type GenerationRequest,
  type GenerationResult,
} from '../formats/generation.js';
import { openAICodec } from '../formats/openai.js';
import { applyReasoning, StreamReasoning } from '../formats/reasoning.js';
import { parseTeiResponse, toTeiRequest } from '../formats/tei.js';
import { tgiCodec } from '../formats/tgi.js';
import type { ModelInvoker } from '../invoke/invoker.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { GatewayTracer } from '../tracing/tracer.js';
import type { Clock, Logger } from '../types.js';
import { GenerationTimer } from './measures.js';
import type { TargetRuntime } from './registry.js';
import { RetryBudget, UpstreamAttempts, type UpstreamWindow } from './retry.js';

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
  /** Set by the first upstream attempt; its retries and a failover share it. */
  upstream?: UpstreamWindow;
}

export interface PipelineDeps {
  invoker: ModelInvoker;
  clock: Clock;
  metrics: GatewayMetrics;
  logger: Logger;
  scheduler: Scheduler;
  /** Jitter of retry backoffs. @default Math.random */
  random?: () => number;
  /** A client span per upstream call, retries included. @default none */
  tracer?: GatewayTracer;
}

/**
 * Everything that serves one model on one target (endpoint, variant or inference component):
 * its codec, its circuit breaker, its coalescer (a batcher for `batch` models, an admission
 * budget for `admit` ones), dedupe of identical deterministic requests of a tenant, and the one
 * place that invokes the target. Built lazily by {@link PipelinePool}.
 */
export class TargetPipeline {
  readonly breaker: CircuitBreaker;
  private readonly codec: GenerationCodec | undefined;
  private batcher: Batcher<string, number[]> | undefined;
  private readonly admissions = new Map<'embed' | 'generate', Admission>();
  private readonly embeddings = new Dedupe<number[]>();
  private readonly generations = new Dedupe<GenerationResult>();
  private readonly labels: { model: string; target: string };
  private readonly attempts: UpstreamAttempts;

  /** @param budget the model's retry budget, shared by its targets */
  constructor(
    readonly model: ModelConfig,
    readonly target: TargetRuntime,
    private readonly deps: PipelineDeps,
    budget: RetryBudget,
  ) {
    const labels = { model: model.id, target: target.id };
    this.labels = labels;
    this.breaker = new CircuitBreaker({
      ...model.breaker,
      clock: deps.clock,
      label: `Model '${model.id}'`,
      onStateChange: (state) => {
        deps.metrics.breakerState({ ...labels, state });
        // One line per change of state, never one per refused request.
        const log = state === 'open' ? deps.logger.warn : deps.logger.info;
        log({ ...labels, circuit: state }, `circuit ${state}`);
      },
      onRefused: () => deps.metrics.breakerRefused(labels),
    });
    deps.metrics.breakerState({ ...labels, state: 'closed' });
    this.attempts = new UpstreamAttempts({
      options: model.retry,
      budget,
      breaker: this.breaker,
      scheduler: deps.scheduler,
      random: deps.random ?? Math.random,
      onRetry: (reason) => deps.metrics.retry({ ...labels, reason }),
      timeoutMs: model.timeoutMs,
    });
    this.codec = codecFor(model);
  }

  /** One vector per input, in order. */
  async embed(inputs: readonly string[], ctx: InferenceContext): Promise<number[][]> {
    if (this.model.policy === 'admit') {
      return this.admitted('embed', ctx, ctx.signal, () =>
        this.embedNow(inputs, ctx.signal, (ctx.upstream ??= {})),
      );
    }
    const batcher = this.batcherOf();
    // Every input is one item; the batch key holds what shapes the answer besides the input.
    const load = (input: string) => (signal: AbortSignal) => batcher.load('tei', input, signal);
    return Promise.all(
      inputs.map((input) =>
        this.model.dedupe
          ? this.embeddings.run(this.dedupeKey(ctx.tenant, input), ctx.signal, load(input))
          : load(input)(ctx.signal),
      ),
    );
  }

  async generate(request: GenerationRequest, ctx: InferenceContext): Promise<GenerationResult> {
    const codec = this.generationCodec();
    const body = codec.encode(request, false);
    const timer = this.timer();
    const call = (signal: AbortSignal) =>
      this.admitted('generate', ctx, signal, async () => {
        timer.sent();
        const window = (ctx.upstream ??= {});
        const result = await this.invoke(body, signal, window, (answer) =>
          applyReasoning(codec.decode(answer, request), this.model.reasoning),
        );
        // Once per upstream generation: identical requests sharing it (dedupe) add nothing.
        timer.answered(result.usage);
        timer.report(this.deps.metrics, this.deps.logger, ctx, false);
        return result;
      });
    if (this.model.dedupe && isDeterministic(request)) {
      return this.generations.run(this.dedupeKey(ctx.tenant, body), ctx.signal, call);
    }
    return call(ctx.signal);
  }

  /**
   * A streamed generation. It holds its admission slot until it ends, fails or is abandoned
   * (`return()` runs `finally`). A stream the container ended before every choice finished is an
   * error, never a complete answer.
   */
  async *generateStream(
    request: GenerationRequest,
    ctx: InferenceContext,
  ): AsyncGenerator<GenerationChunk, void, undefined> {
    const codec = this.generationCodec();
    const timer = this.timer();
    const release = await this.acquire('generate', ctx, ctx.signal);
    const span = this.deps.tracer?.upstreamStream(this.model, this.target);
    let outcome: unknown = new ClientClosedError();
    let events: AsyncIterator<unknown> | undefined;
    try {
      const decoder = codec.streamDecoder(request);
      const reasoning = new StreamReasoning(this.model.reasoning);
      const body = codec.encode(request, true);
      timer.sent();
      // Retried only until the container's first event: after that the stream is the answer.
      const opened = await this.attempts.run(
        (ctx.upstream ??= {}),
        ctx.signal,
        async (timeoutMs) => {
          const events = this.deps.invoker
            .invokeStream({
              ...this.invokeOptions(body, ctx.signal, timeoutMs),
              accept: codec.streamAccept,
            })
            [Symbol.asyncIterator]();
          return { events, first: await events.next() };
        },
        false,
      );
      events = opened.events;
      for (let step = opened.first; !step.done; step = await events.next()) {
        const chunk = decoder.push(step.value);
        if (!chunk) continue;
        const out = reasoning.apply(chunk);
        timer.chunk(out);
        span?.chunk(out);
        yield out;
      }
      // A stream cut short by the caller leaving must never read as a complete answer.
      if (ctx.signal.aborted) throw new ClientClosedError();
      // Nor one the container ended without finishing (a crash, a cut connection).
      if (!decoder.finished) {
        throw new UpstreamError(
          `The stream from model '${this.model.id}' ended before it finished.`,
          {
            code: 'incomplete_stream',
          },
        );
      }
      outcome = undefined;
      timer.report(this.deps.metrics, this.deps.logger, ctx, true);
    } catch (error) {
      outcome = error;
      throw error;
    } finally {
      // A stream abandoned mid-way (`return()`) keeps the ClientClosedError outcome: no verdict.
      // Failures before the first event were recorded attempt by attempt.
      if (events) {
        this.breaker.record(outcome);
        // Closes the upstream call of a stream left mid-way (a no-op once it ended).
        await events.return?.().catch(() => undefined);
      }
      span?.end(outcome);
      release();
    }
  }

  private timer(): GenerationTimer {
    return new GenerationTimer(this.labels, this.deps.scheduler.now);
  }

  private generationCodec(): GenerationCodec {
    if (!this.codec) throw new Error(`Model '${this.model.id}' does not generate.`);
    return this.codec;
  }

  /**
   * The one upstream call, guarded by the target's breaker and retried where that is safe (see
   * {@link UpstreamAttempts}). The answer is read inside the guard: an answer the gateway cannot
   * use (not the schema, a wrong count) counts against the target, and is never retried.
   */
  private invoke<T>(
    body: unknown,
    signal: AbortSignal,
    window: UpstreamWindow,
    read: (answer: unknown) => T,
  ): Promise<T> {
    const call = () =>
      this.attempts.run(window, signal, async (timeoutMs) =>
        read(await this.deps.invoker.invoke(this.invokeOptions(body, signal, timeoutMs))),
      );
    const { tracer } = this.deps;
    return tracer ? tracer.upstream(this.model, this.target, call) : call();
  }

  private invokeOptions(body: unknown, signal: AbortSignal, timeoutMs: number) {
    return { target: this.target, body, signal, timeoutMs, modelId: this.model.id };
  }

  /**
   * @param window the caller's upstream window (policy `admit`); a batch of many callers has its
   *   own
   */
  private async embedNow(
    items: readonly string[],
    signal: AbortSignal,
    window: UpstreamWindow = {},
  ): Promise<number[][]> {
    // parseTeiResponse fails the whole batch on a count mismatch: no delivery by position.
    return this.invoke(toTeiRequest(items), signal, window, (answer) =>
      parseTeiResponse(answer, items.length, this.model.id),
    );
  }

  private async admitted<T>(
    payload: 'embed' | 'generate',
    ctx: InferenceContext,
    signal: AbortSignal,
    fn: () => Promise<T>,
  ): Promise<T> {
    const release = await this.acquire(payload, ctx, signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** A slot of the target's admission budget; a no-op for models under the batch policy. */
  private acquire(
    payload: 'embed' | 'generate',
    ctx: InferenceContext,
    signal: AbortSignal,
  ): Promise<Release> {
    if (this.model.policy !== 'admit') return Promise.resolve(() => {});
    const timeoutMs =
      ctx.deadline === undefined ? undefined : Math.max(0, ctx.deadline - this.deps.clock.now());
    return this.admissionOf(payload).acquire({
      signal,
      tenant: ctx.tenant,
      priority: ctx.priority,
      timeoutMs,
    });
  }

  private admissionOf(payload: 'embed' | 'generate'): Admission {
    let admission = this.admissions.get(payload);
    if (admission) return admission;
    const { metrics } = this.deps;
    const labels = this.labels;
    admission = new Admission({
      ...this.model.admit,
      label: `Model '${this.model.id}'`,
      scheduler: this.deps.scheduler,
      hooks: {
        inflight: (delta) => metrics.inflight({ ...labels, delta }),
        queueWait: (ms) => metrics.queueWait({ ...labels, ms }),
        rejected: (reason) => metrics.rejected({ model: labels.model, reason }),
      },
    });
    this.admissions.set(payload, admission);
    return admission;
  }

  private batcherOf(): Batcher<string, number[]> {
    if (this.batcher) return this.batcher;
    const { metrics } = this.deps;
    const labels = this.labels;
    this.batcher = new Batcher<string, number[]>({
      ...this.model.batch,
      label: `Model '${this.model.id}'`,
      scheduler: this.deps.scheduler,
      batchFn: (items, _key, signal) => this.embedNow(items, signal),
      hooks: {
        batch: (e) => metrics.batch({ ...labels, ...e }),
        inflight: (delta) => metrics.inflight({ ...labels, delta }),
        queueWait: (ms) => metrics.queueWait({ ...labels, ms }),
        rejected: (reason) => metrics.rejected({ model: labels.model, reason }),
      },
    });
    return this.batcher;
  }

  /** Everything that shapes an answer, the tenant first: sharing never crosses tenants. */
  private dedupeKey(tenant: string, input: unknown): string {
    return JSON.stringify([tenant, this.model.id, this.target.id, input]);
  }
}

const codecFor = (model: ModelConfig): GenerationCodec | undefined => {
  switch (model.format) {
    case 'openai':
      return openAICodec({ modelId: model.id, upstreamModel: model.upstreamModel });
    case 'tgi':
      return tgiCodec({ modelId: model.id, chatTemplate: model.chatTemplate });
    case 'tei':
      return undefined;
  }
};

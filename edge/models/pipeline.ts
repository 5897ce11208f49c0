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
import type { Clock } from '../types.js';
import type { TargetRuntime } from './registry.js';

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

export interface PipelineDeps {
  invoker: ModelInvoker;
  clock: Clock;
  metrics: GatewayMetrics;
  scheduler: Scheduler;
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

  constructor(
    readonly model: ModelConfig,
    readonly target: TargetRuntime,
    private readonly deps: PipelineDeps,
  ) {
    this.labels = { model: model.id, target: target.id };
    this.breaker = new CircuitBreaker({
      ...model.breaker,
      clock: deps.clock,
      label: `Model '${model.id}'`,
    });
    this.codec = codecFor(model);
  }

  /** One vector per input, in order. */
  async embed(inputs: readonly string[], ctx: InferenceContext): Promise<number[][]> {
    if (this.model.policy === 'admit') {
      return this.admitted('embed', ctx, ctx.signal, () => this.embedNow(inputs, ctx.signal));
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
    const call = (signal: AbortSignal) =>
      this.admitted('generate', ctx, signal, () =>
        this.invoke(body, signal, (answer) =>
          applyReasoning(codec.decode(answer, request), this.model.reasoning),
        ),
      );
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
    const release = await this.acquire('generate', ctx, ctx.signal);
    let outcome: unknown = new ClientClosedError();
    try {
      const decoder = codec.streamDecoder(request);
      const reasoning = new StreamReasoning(this.model.reasoning);
      const events = this.deps.invoker.invokeStream({
        ...this.invokeOptions(codec.encode(request, true), ctx.signal),
        accept: codec.streamAccept,
      });
      for await (const event of events) {
        const chunk = decoder.push(event);
        if (chunk) yield reasoning.apply(chunk);
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
    } catch (error) {
      outcome = error;
      throw error;
    } finally {
      // A stream abandoned mid-way (`return()`) keeps the ClientClosedError outcome: no verdict.
      this.breaker.record(outcome);
      release();
    }
  }

  private generationCodec(): GenerationCodec {
    if (!this.codec) throw new Error(`Model '${this.model.id}' does not generate.`);
    return this.codec;
  }

  /**
   * The one upstream call, guarded by the target's breaker. The answer is read inside the guard:
   * an answer the gateway cannot use (not the schema, a wrong count) counts against the target.
   */
  private async invoke<T>(
    body: unknown,
    signal: AbortSignal,
    read: (answer: unknown) => T,
  ): Promise<T> {
    try {
      const result = read(await this.deps.invoker.invoke(this.invokeOptions(body, signal)));
      this.breaker.record(undefined);
      return result;
    } catch (error) {
      this.breaker.record(error);
      throw error;
    }
  }

  private invokeOptions(body: unknown, signal: AbortSignal) {
    return {
      target: this.target,
      body,
      signal,
      timeoutMs: this.model.timeoutMs,
      modelId: this.model.id,
    };
  }

  private async embedNow(items: readonly string[], signal: AbortSignal): Promise<number[][]> {
    // parseTeiResponse fails the whole batch on a count mismatch: no delivery by position.
    return this.invoke(toTeiRequest(items), signal, (answer) =>
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
    return this.admissionOf(payload).acquire({ signal, priority: ctx.priority, timeoutMs });
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

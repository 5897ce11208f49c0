import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import type { ModelConfig } from '../../shared/config/schema.js';
import type { GenerationResult } from '../formats/generation.js';
import type { TargetRuntime } from '../models/registry.js';
import type { AppEnv } from '../types.js';
import {
  GEN_AI,
  failed,
  finishReasonsOf,
  inputMessages,
  operationOf,
  outputMessages,
  requestAttributes,
  responseAttributes,
  upstreamAttributes,
  type GenAIOperation,
  type RequestDescription,
} from './attributes.js';
import { StreamSpan } from './stream-span.js';

export interface GatewayTracerOptions {
  /** Where spans go: an OpenTelemetry SDK tracer provider with its processors and exporter. */
  provider: TracerProvider;
  /**
   * Records prompts and completions on the request span (`gen_ai.input.messages`,
   * `gen_ai.output.messages`, `gen_ai.request.stop_sequences`). They are the tenants' data: turn
   * this on only where the trace backend may hold it.
   * @default false
   */
  recordContent?: boolean;
}

/** The span of one request, found by the code below the route through async context. */
interface RequestTrace {
  readonly span: Span;
  operation?: GenAIOperation;
  model?: ModelConfig;
  ended: boolean;
}

/**
 * OpenTelemetry spans for the gateway, following the GenAI semantic conventions: one server span
 * per `/v1` request (`chat {model}`, `text_completion {model}`, `embeddings {model}`) with the
 * model, sampling parameters, finish reasons and token counts, and a client span per upstream
 * call as its child (the target, the SageMaker Runtime operation, retries included). Content is
 * never recorded unless {@link GatewayTracerOptions.recordContent} says so.
 *
 * Built only when tracing is on (see `tracingFromEnv`); without one, `createApp` mounts nothing
 * and the pipeline's `deps.tracer?.…` hooks cost a property read.
 *
 * @example
 * const tracer = new GatewayTracer({ provider });
 * const { app } = createApp({ config, invoker, auth, tracer });
 */
export class GatewayTracer {
  readonly recordContent: boolean;
  private readonly tracer: Tracer;
  private readonly current = new AsyncLocalStorage<RequestTrace>();

  constructor(options: GatewayTracerOptions) {
    this.tracer = options.provider.getTracer('sluice');
    this.recordContent = options.recordContent ?? false;
  }

  /** Opens the request span and keeps it in async context until the response body ends. */
  middleware(): MiddlewareHandler<AppEnv> {
    const self = this;
    return async function traceRequest(c, next) {
      const span = self.tracer.startSpan(c.req.method, {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': c.req.method,
          'url.path': c.req.path,
          'sluice.request_id': c.get('requestId'),
        },
      });
      const request: RequestTrace = { span, ended: false };
      await self.current.run(request, next);
      const status = c.res.status;
      if (!request.operation) span.updateName(`${c.req.method} ${c.req.routePath}`);
      span.setAttributes({ 'http.route': c.req.routePath, 'http.response.status_code': status });
      const tenant = c.get('principal')?.tenant;
      if (tenant) span.setAttribute('sluice.tenant', tenant);
      if (c.error) failed(span, c.error);
      else if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      const end = () => {
        if (request.ended) return;
        request.ended = true;
        span.end();
      };
      // A stream's span lasts until its last event left (or the client went away).
      if (c.res.body && c.res.headers.get('content-type')?.startsWith('text/event-stream')) {
        c.res = endWithBody(c.res, end);
      } else {
        end();
      }
    };
  }

  /** Names the request span after its operation and model and records the request's parameters. */
  describe(d: RequestDescription): void {
    const request = this.current.getStore();
    if (!request) return;
    request.operation = d.operation;
    request.model = d.model;
    request.span.updateName(`${d.operation} ${d.model.id}`);
    request.span.setAttributes(requestAttributes(d));
    if (!this.recordContent || !d.request) return;
    request.span.setAttribute(GEN_AI.inputMessages, inputMessages(d.request));
    const stop = d.request.body.stop;
    if (stop != null)
      request.span.setAttribute(GEN_AI.stopSequences, typeof stop === 'string' ? [stop] : stop);
  }

  /** Records a finished generation's finish reasons, token counts and (opted in) output. */
  answered(result: GenerationResult): void {
    const request = this.current.getStore();
    if (request?.model) this.recordAnswer(request, result);
  }

  /**
   * Runs one upstream call (with its retries) inside a client span, a child of the request span.
   * @example
   * return tracer ? tracer.upstream(model, target, call) : call();
   */
  async upstream<T>(model: ModelConfig, target: TargetRuntime, call: () => Promise<T>): Promise<T> {
    const span = this.startUpstream(model, target, false);
    try {
      return await call();
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * A client span for one streamed upstream call. It collects the stream's finish reasons and
   * usage and hands them to the request span when the stream ends, since the stream's response
   * is written after the route returned.
   */
  upstreamStream(model: ModelConfig, target: TargetRuntime): StreamSpan {
    const request = this.current.getStore();
    return new StreamSpan(this.startUpstream(model, target, true), {
      recordContent: this.recordContent,
      finish: (result, error) => {
        if (!request || request.ended) return;
        if (result) {
          if (request.model) this.recordAnswer(request, result);
        } else {
          // After the first chunk the client holds a 200; the failure shows only here.
          failed(request.span, error);
        }
      },
    });
  }

  private startUpstream(model: ModelConfig, target: TargetRuntime, stream: boolean): Span {
    const request = this.current.getStore();
    const operation = request?.operation ?? operationOf(model);
    const parent = request ? trace.setSpan(ROOT_CONTEXT, request.span) : ROOT_CONTEXT;
    return this.tracer.startSpan(
      `${operation} ${target.id}`,
      { kind: SpanKind.CLIENT, attributes: upstreamAttributes(model, target, operation, stream) },
      parent,
    );
  }

  private recordAnswer(request: RequestTrace, result: GenerationResult): void {
    request.span.setAttributes(
      responseAttributes(request.model!, finishReasonsOf(result), result.usage),
    );
    if (this.recordContent) {
      const choices = [...result.choices].sort((a, b) => a.index - b.index);
      request.span.setAttribute(GEN_AI.outputMessages, outputMessages(choices));
    }
  }
}

/** The same response, whose body calls `end` once it is read to the end, fails or is cancelled. */
const endWithBody = (res: Response, end: () => void): Response => {
  const reader = res.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const step = await reader.read();
        if (step.done) {
          controller.close();
          end();
        } else {
          controller.enqueue(step.value);
        }
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
};

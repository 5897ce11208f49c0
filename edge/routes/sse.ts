import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { ClientClosedError, toGatewayError } from '../../shared/errors.js';
import type { GenerationChunk, GenerationRequest, Usage } from '../formats/generation.js';
import type { ModelRuntime } from '../models/registry.js';
import type { InferenceContext } from '../models/service.js';
import type { AppEnv } from '../types.js';
import type { Meter } from '../usage/metering.js';
import type { OpenAIRoutesDeps } from './openai.js';

/** OpenAI's usage object; zeros where the container reported nothing. */
export const usageBody = (u: Usage | undefined) => {
  const usage = u ?? { promptTokens: 0, completionTokens: 0 };
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    ...(usage.reasoningTokens === undefined
      ? {}
      : { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } }),
    ...(usage.cachedTokens === undefined
      ? {}
      : { prompt_tokens_details: { cached_tokens: usage.cachedTokens } }),
  };
};

export const inferenceContext = (c: Context<AppEnv>, signal: AbortSignal): InferenceContext => ({
  requestId: c.get('requestId'),
  tenant: c.get('principal').tenant,
  signal,
  priority: c.req.header('x-sluice-priority') === 'batch' ? 'batch' : 'interactive',
});

/** How one API (chat or text completions) shapes the events of a stream. */
export interface StreamShape {
  /** The event for one chunk's deltas. */
  chunk: (chunk: GenerationChunk) => object;
  /** The closing usage event, when the client asked for one (`stream_options.include_usage`). */
  usage: ((u: ReturnType<typeof usageBody>) => object) | undefined;
  /** Settles the request's tokens and records its usage when the stream ends. */
  meter?: Meter | undefined;
}

/**
 * Streams a generation as server-sent events ending in `data: [DONE]`. The first upstream
 * event is awaited before the response starts, so a failure to start (overload, an unknown
 * endpoint) is an ordinary HTTP error. A failure after that ends the stream with an error
 * event and no `[DONE]`, so a client never mistakes a broken answer for a complete one.
 */
export const streamCompletion = async (
  c: Context<AppEnv>,
  deps: OpenAIRoutesDeps,
  model: ModelRuntime,
  request: GenerationRequest,
  shape: StreamShape,
) => {
  const controller = new AbortController();
  const clientSignal = c.req.raw.signal;
  const abort = () => controller.abort(new ClientClosedError());
  if (clientSignal.aborted) abort();
  else clientSignal.addEventListener('abort', abort, { once: true });
  let iterator: AsyncIterator<GenerationChunk>;
  let head: IteratorResult<GenerationChunk>;
  try {
    iterator = deps.service.generateStream(model, request, inferenceContext(c, controller.signal));
    head = await iterator.next();
  } catch (err) {
    clientSignal.removeEventListener('abort', abort);
    shape.meter?.finish({ error: err, clientLeft: controller.signal.aborted });
    throw err;
  }
  c.header('cache-control', 'no-cache');
  c.header('x-accel-buffering', 'no');
  return streamSSE(c, async (sse) => {
    sse.onAbort(abort);
    let usage: Usage | undefined;
    let failure: unknown;
    try {
      for (let step = head; !step.done; step = await iterator.next()) {
        const chunk = step.value;
        if (chunk.usage) usage = chunk.usage;
        if (chunk.deltas.length > 0)
          await sse.writeSSE({ data: JSON.stringify(shape.chunk(chunk)) });
      }
      if (controller.signal.aborted) return;
      if (shape.usage) await sse.writeSSE({ data: JSON.stringify(shape.usage(usageBody(usage))) });
      await sse.writeSSE({ data: '[DONE]' });
    } catch (err) {
      failure = err;
      if (controller.signal.aborted) return;
      const error = toGatewayError(err);
      deps.logger.warn(
        {
          requestId: c.get('requestId'),
          model: model.config.id,
          code: error.code,
          details: error.details,
        },
        'stream failed after it started',
      );
      await sse.writeSSE({ data: JSON.stringify(error.toJSON()) });
    } finally {
      clientSignal.removeEventListener('abort', abort);
      if (controller.signal.aborted) await iterator.return?.();
      shape.meter?.finish({
        usage,
        error: failure,
        started: true,
        clientLeft: controller.signal.aborted,
      });
    }
  });
};

import { Hono, type Context } from 'hono';
import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../../shared/errors.js';
import type { AppEnv, Clock, Logger } from '../types.js';
import type { Choice, ChoiceDelta } from '../formats/generation.js';
import { toBase64Float32 } from '../formats/tei.js';
import { readJson } from '../middleware/json-body.js';
import type { ModelRegistry, ModelRuntime } from '../models/registry.js';
import type { InferenceContext, ModelService } from '../models/service.js';
import {
  chatCompletionSchema,
  completionSchema,
  embeddingSchema,
} from '../formats/openai-schemas.js';
import type { GatewayTracer } from '../tracing/tracer.js';
import type { Metering } from '../usage/metering.js';
import { chatRequest, completionRequest } from './generation-request.js';
import { inferenceContext, streamCompletion, usageBody } from './sse.js';

export interface OpenAIRoutesDeps {
  registry: ModelRegistry;
  service: ModelService;
  clock: Clock;
  logger: Logger;
  /** Token quotas and usage records around each generation. @default none */
  metering?: Metering;
  /** Names the request span and records its gen_ai attributes. @default none */
  tracer?: GatewayTracer | undefined;
}

/** The OpenAI-compatible API, mounted at `/v1`. */
export const openAIRoutes = (deps: OpenAIRoutesDeps): Hono<AppEnv> => {
  const { registry, service, clock } = deps;
  const app = new Hono<AppEnv>();

  app.get('/models', (c) =>
    c.json({ object: 'list', data: registry.list().map((m) => modelCard(m)) }),
  );

  app.get('/models/:id{.+}', (c) => c.json(modelCard(registry.require(c.req.param('id')))));

  app.post('/chat/completions', async (c) => {
    const body = await readJson(c, chatCompletionSchema);
    const model = resolve(c, registry, body.model, ['chat']);
    const request = chatRequest(model, body);
    const meter = await deps.metering?.start(c, model, request, body.stream === true);
    const base = {
      id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
      created: Math.floor(clock.now() / 1000),
      model: model.config.id,
      system_fingerprint: null,
    };
    deps.tracer?.describe({ operation: 'chat', model: model.config, request, responseId: base.id });

    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage === true;
      const object = 'chat.completion.chunk';
      return streamCompletion(c, deps, model, request, {
        chunk: (chunk) => ({
          ...base,
          object,
          choices: chunk.deltas.map((d) => ({
            index: d.index,
            delta: chatDelta(d),
            logprobs: d.logprobs ?? null,
            finish_reason: d.finishReason ?? null,
          })),
          ...(includeUsage ? { usage: null } : {}),
        }),
        usage: includeUsage ? (u) => ({ ...base, object, choices: [], usage: u }) : undefined,
        meter,
      });
    }
    const work = withAbort(c, (ctx) => service.generate(model, request, ctx));
    const result = await (meter ? meter.track(work) : work);
    deps.tracer?.answered(result);
    return c.json({
      ...base,
      object: 'chat.completion',
      choices: result.choices.map((choice) => ({
        index: choice.index,
        message: chatMessage(choice),
        logprobs: choice.logprobs ?? null,
        finish_reason: choice.finishReason,
      })),
      usage: usageBody(result.usage),
    });
  });

  app.post('/completions', async (c) => {
    const body = await readJson(c, completionSchema);
    const model = resolve(c, registry, body.model, ['chat', 'completion']);
    const request = completionRequest(model, body);
    const meter = await deps.metering?.start(c, model, request, body.stream === true);
    const base = {
      id: `cmpl-${randomUUID().replaceAll('-', '')}`,
      created: Math.floor(clock.now() / 1000),
      model: model.config.id,
      system_fingerprint: null,
    };
    const object = 'text_completion';
    deps.tracer?.describe({ operation: object, model: model.config, request, responseId: base.id });

    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage === true;
      return streamCompletion(c, deps, model, request, {
        chunk: (chunk) => ({
          ...base,
          object,
          choices: chunk.deltas.map((d) => ({
            index: d.index,
            text: d.content ?? '',
            logprobs: d.logprobs ?? null,
            finish_reason: d.finishReason ?? null,
          })),
          ...(includeUsage ? { usage: null } : {}),
        }),
        usage: includeUsage ? (u) => ({ ...base, object, choices: [], usage: u }) : undefined,
        meter,
      });
    }
    const work = withAbort(c, (ctx) => service.generate(model, request, ctx));
    const result = await (meter ? meter.track(work) : work);
    deps.tracer?.answered(result);
    return c.json({
      ...base,
      object,
      choices: result.choices.map((choice) => ({
        index: choice.index,
        text: choice.content ?? '',
        logprobs: choice.logprobs ?? null,
        finish_reason: choice.finishReason,
      })),
      usage: usageBody(result.usage),
    });
  });

  app.post('/embeddings', async (c) => {
    const body = await readJson(c, embeddingSchema);
    const model = resolve(c, registry, body.model, ['embedding']);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    const { maxInputs, maxInputChars } = model.config.limits;
    if (inputs.length > maxInputs) {
      throw new InvalidRequestError(
        `'input' holds ${inputs.length} items; model '${model.config.id}' takes at most ${maxInputs}.`,
        { param: 'input', code: 'too_many_inputs' },
      );
    }
    inputs.forEach((text, i) => {
      if (text.length === 0)
        throw new InvalidRequestError(`'input.${i}' must not be empty.`, { param: `input.${i}` });
      if (text.length > maxInputChars) {
        throw new InvalidRequestError(`'input.${i}' is longer than ${maxInputChars} characters.`, {
          param: `input.${i}`,
          code: 'input_too_long',
        });
      }
    });
    if (body.dimensions !== undefined && body.dimensions !== model.config.dimensions) {
      throw new InvalidRequestError(
        `Model '${model.config.id}' does not support dimensions=${body.dimensions}.`,
        { param: 'dimensions' },
      );
    }
    deps.tracer?.describe({ operation: 'embeddings', model: model.config });
    const vectors = await withAbort(c, (ctx) => service.embed(model, inputs, ctx));
    const base64 = body.encoding_format === 'base64';
    return c.json({
      object: 'list',
      data: vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? toBase64Float32(v) : v,
      })),
      model: model.config.id,
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
  });

  return app;
};

const modelCard = (m: ModelRuntime) => ({
  id: m.config.id,
  object: 'model',
  created: 0,
  owned_by: 'sluice',
});

/** @throws NotFoundError for an unknown model, InvalidRequestError for the wrong kind */
const resolve = (
  c: Context<AppEnv>,
  registry: ModelRegistry,
  id: string,
  kinds: ReadonlyArray<ModelRuntime['config']['kind']>,
): ModelRuntime => {
  const model = registry.require(id);
  c.set('model', model.config.id);
  if (!kinds.includes(model.config.kind)) {
    throw new InvalidRequestError(
      `Model '${id}' is a ${model.config.kind} model and does not serve this route.`,
      { param: 'model', code: 'model_not_supported' },
    );
  }
  return model;
};

/** The assistant message of a finished chat choice, in the OpenAI shape. */
const chatMessage = (choice: Choice) => ({
  role: 'assistant' as const,
  content: choice.content,
  refusal: choice.refusal ?? null,
  ...(choice.toolCalls ? { tool_calls: choice.toolCalls } : {}),
  ...(choice.reasoning === undefined ? {} : { reasoning_content: choice.reasoning }),
});

/** One choice's delta in a chat stream; tool-call deltas pass unchanged. */
const chatDelta = (d: ChoiceDelta) => ({
  ...(d.role ? { role: d.role } : {}),
  ...(d.content === undefined ? {} : { content: d.content }),
  ...(d.reasoning === undefined ? {} : { reasoning_content: d.reasoning }),
  ...(d.toolCalls ? { tool_calls: d.toolCalls } : {}),
  ...(d.refusal === undefined ? {} : { refusal: d.refusal }),
});

/**
 * Runs `fn` with the request's own signal, which fires when the client disconnects. It is
 * passed on as it is: one AbortController per request is measurable CPU under load.
 */
const withAbort = <T>(c: Context<AppEnv>, fn: (ctx: InferenceContext) => Promise<T>): Promise<T> =>
  fn(inferenceContext(c, c.req.raw.signal));

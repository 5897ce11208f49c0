import { Hono, type Context } from 'hono';
import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../../shared/errors.js';
import type { AppEnv, Clock, Logger } from '../types.js';
import { renderChat, type ChatMessage } from '../formats/chat-template.js';
import type { GenerationRequest } from '../formats/generation.js';
import { toBase64Float32 } from '../formats/tei.js';
import { readJson } from '../middleware/json-body.js';
import type { ModelRegistry, ModelRuntime } from '../models/registry.js';
import type { InferenceContext, ModelService } from '../models/service.js';
import {
  chatCompletionSchema,
  completionSchema,
  embeddingSchema,
  type ChatCompletionBody,
  type CompletionBody,
} from './openai-schemas.js';
import { inferenceContext, streamCompletion, usageBody } from './sse.js';

export interface OpenAIRoutesDeps {
  registry: ModelRegistry;
  service: ModelService;
  clock: Clock;
  logger: Logger;
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
    const messages = body.messages.map(flattenMessage);
    const prompt = renderChat(messages, model.config.chatTemplate);
    const request = generationRequest(
      model,
      { ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens },
      prompt,
    );
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(clock.now() / 1000);
    const base = { id, created, model: model.config.id, system_fingerprint: null };

    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage === true;
      return streamCompletion(c, deps, model, request, {
        first: () => ({
          ...base,
          object: 'chat.completion.chunk',
          choices: [
            {
              index: 0,
              delta: { role: 'assistant', content: '' },
              logprobs: null,
              finish_reason: null,
            },
          ],
          ...(includeUsage ? { usage: null } : {}),
        }),
        chunk: (text) => ({
          ...base,
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
          ...(includeUsage ? { usage: null } : {}),
        }),
        last: (reason) => ({
          ...base,
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: reason }],
          ...(includeUsage ? { usage: null } : {}),
        }),
        usage: includeUsage
          ? (u) => ({ ...base, object: 'chat.completion.chunk', choices: [], usage: u })
          : undefined,
      });
    }
    const result = await withAbort(c, (ctx) => service.generate(model, request, ctx));
    return c.json({
      ...base,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: result.text, refusal: null },
          logprobs: null,
          finish_reason: result.finishReason,
        },
      ],
      usage: usageBody(result),
    });
  });

  app.post('/completions', async (c) => {
    const body = await readJson(c, completionSchema);
    const model = resolve(c, registry, body.model, ['chat', 'completion']);
    const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0]!;
    const request = generationRequest(model, body, prompt);
    const base = {
      id: `cmpl-${randomUUID().replaceAll('-', '')}`,
      created: Math.floor(clock.now() / 1000),
      model: model.config.id,
      system_fingerprint: null,
    };
    const choice = (text: string, reason: string | null) => ({
      index: 0,
      text,
      logprobs: null,
      finish_reason: reason,
    });

    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage === true;
      return streamCompletion(c, deps, model, request, {
        first: () => undefined,
        chunk: (text) => ({
          ...base,
          object: 'text_completion',
          choices: [choice(text, null)],
          ...(includeUsage ? { usage: null } : {}),
        }),
        last: (reason) => ({
          ...base,
          object: 'text_completion',
          choices: [choice('', reason)],
          ...(includeUsage ? { usage: null } : {}),
        }),
        usage: includeUsage
          ? (u) => ({ ...base, object: 'text_completion', choices: [], usage: u })
          : undefined,
      });
    }
    const result = await withAbort(c, (ctx) => service.generate(model, request, ctx));
    return c.json({
      ...base,
      object: 'text_completion',
      choices: [choice(result.text, result.finishReason)],
      usage: usageBody(result),
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

const flattenMessage = (m: ChatCompletionBody['messages'][number]): ChatMessage => {
  const content = m.content ?? '';
  return {
    role: m.role,
    content: typeof content === 'string' ? content : content.map((p) => p.text).join(''),
  };
};

const generationRequest = (
  model: ModelRuntime,
  body: Pick<CompletionBody, 'max_tokens' | 'temperature' | 'top_p' | 'stop' | 'seed'>,
  prompt: string,
): GenerationRequest => {
  const { maxTokens, defaultMaxTokens, maxInputChars } = model.config.limits;
  if (body.max_tokens != null && body.max_tokens > maxTokens) {
    throw new InvalidRequestError(
      `'max_tokens' is ${body.max_tokens}; model '${model.config.id}' allows at most ${maxTokens}.`,
      { param: 'max_tokens', code: 'max_tokens_exceeded' },
    );
  }
  if (prompt.length > maxInputChars) {
    throw new InvalidRequestError(`The prompt is longer than ${maxInputChars} characters.`, {
      param: 'messages',
      code: 'input_too_long',
    });
  }
  return {
    prompt,
    maxTokens: body.max_tokens ?? defaultMaxTokens,
    // OpenAI's default temperature is 1.
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? undefined,
    stop: body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop,
    seed: body.seed ?? undefined,
  };
};

/**
 * Runs `fn` with the request's own signal, which fires when the client disconnects. It is
 * passed on as it is: one AbortController per request is measurable CPU under load.
 */
const withAbort = <T>(c: Context<AppEnv>, fn: (ctx: InferenceContext) => Promise<T>): Promise<T> =>
  fn(inferenceContext(c, c.req.raw.signal));

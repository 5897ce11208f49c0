import { InvalidRequestError } from '../../shared/errors.js';
import { GENERATION_PARAMETERS, type GenerationParameter } from '../../shared/config/parameters.js';
import type { GenerationRequest } from '../formats/generation.js';
import type { ChatCompletionBody, CompletionBody } from '../formats/openai-schemas.js';
import type { ModelRuntime } from '../models/registry.js';

/**
 * Checks a schema-valid request against what its model allows and builds the request the
 * pipeline takes. Every refusal is a 400 that names the parameter: nothing a client asked for is
 * dropped on the way to the container.
 */
export const chatRequest = (model: ModelRuntime, body: ChatCompletionBody): GenerationRequest => {
  const { model: _m, stream: _s, stream_options: _o, ...rest } = body;
  checkAllowed(model, rest);
  const config = model.config;
  let chars = 0;
  body.messages.forEach((message, i) => {
    const content = message.content;
    if (typeof content === 'string') chars += content.length;
    else if (content) {
      content.forEach((part, j) => {
        if (part.type === 'text') chars += part.text.length;
        else if (part.type === 'refusal') chars += part.refusal.length;
        else if (!config.images) {
          throw new InvalidRequestError(`Model '${config.id}' does not accept images.`, {
            param: `messages.${i}.content.${j}`,
            code: 'images_not_supported',
          });
        }
      });
    }
    if (message.role === 'assistant' && message.tool_calls?.length && config.format !== 'openai') {
      throw notAllowed(config.id, `messages.${i}.tool_calls`);
    }
    if (message.role === 'tool' && config.format !== 'openai') {
      throw notAllowed(config.id, `messages.${i}`);
    }
  });
  checkLength(model, chars, 'messages');
  const tools = body.tools?.length ?? 0;
  if (tools > config.limits.maxTools) {
    throw new InvalidRequestError(
      `'tools' holds ${tools} tools; model '${config.id}' takes at most ${config.limits.maxTools}.`,
      { param: 'tools', code: 'too_many_tools' },
    );
  }
  const maxTokens = tokens(
    model,
    body.max_completion_tokens ?? body.max_tokens,
    body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
  );
  return { kind: 'chat', body: rest, maxTokens, choices: choices(model, body.n) };
};

export const completionRequest = (model: ModelRuntime, body: CompletionBody): GenerationRequest => {
  const { model: _m, stream: _s, stream_options: _o, ...rest } = body;
  checkAllowed(model, rest);
  const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0]!;
  checkLength(model, prompt.length, 'prompt');
  const maxTokens = tokens(model, body.max_tokens, 'max_tokens');
  return { kind: 'completion', body: rest, maxTokens, choices: choices(model, body.n) };
};

/**
 * The optional parameters a request sets (a value other than null or the neutral one) must be
 * allowed for its model. `n: 1`, `logprobs: false` and `tool_choice: 'none'` change nothing, so
 * they pass wherever the parameter is not allowed.
 */
const checkAllowed = (model: ModelRuntime, body: Record<string, unknown>): void => {
  const allowed: readonly string[] = model.config.parameters;
  for (const [name, value] of Object.entries(body)) {
    if (!isOptional(name) || value === null || value === undefined) continue;
    if (neutral(name, value) || allowed.includes(name)) continue;
    throw notAllowed(model.config.id, name);
  }
};

const OPTIONAL: ReadonlySet<string> = new Set(GENERATION_PARAMETERS);
const isOptional = (name: string): name is GenerationParameter => OPTIONAL.has(name);

const neutral = (name: string, value: unknown): boolean =>
  (name === 'n' && value === 1) ||
  (name === 'logprobs' && value === false) ||
  (name === 'tool_choice' && value === 'none') ||
  (name === 'response_format' && (value as { type?: string }).type === 'text');

const notAllowed = (modelId: string, param: string) =>
  new InvalidRequestError(`Model '${modelId}' does not support '${param}'.`, {
    param,
    code: 'unsupported_parameter',
  });

const checkLength = (model: ModelRuntime, chars: number, param: string): void => {
  const { maxInputChars } = model.config.limits;
  if (chars > maxInputChars) {
    throw new InvalidRequestError(`'${param}' holds more than ${maxInputChars} characters.`, {
      param,
      code: 'input_too_long',
    });
  }
};

const tokens = (model: ModelRuntime, asked: number | null | undefined, param: string): number => {
  const { maxTokens, defaultMaxTokens } = model.config.limits;
  if (asked != null && asked > maxTokens) {
    throw new InvalidRequestError(
      `'${param}' is ${asked}; model '${model.config.id}' allows at most ${maxTokens}.`,
      { param, code: 'max_tokens_exceeded' },
    );
  }
  return asked ?? defaultMaxTokens;
};

const choices = (model: ModelRuntime, n: number | null | undefined): number => {
  const { maxChoices } = model.config.limits;
  if (n != null && n > maxChoices) {
    throw new InvalidRequestError(
      `'n' is ${n}; model '${model.config.id}' allows at most ${maxChoices}.`,
      { param: 'n', code: 'too_many_choices' },
    );
  }
  return n ?? 1;
};

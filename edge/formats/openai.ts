import { randomUUID } from 'node:crypto';
import { UpstreamError } from '../../shared/errors.js';
import type {
  Choice,
  ChoiceDelta,
  FinishReason,
  GenerationChunk,
  GenerationCodec,
  GenerationRequest,
  GenerationResult,
  StreamDecoder,
  Usage,
} from './generation.js';
import { isObject } from './object.js';
import type { ToolCall } from './openai-schemas.js';

export interface OpenAICodecOptions {
  /** Public model id, for error messages. */
  modelId: string;
  /** The `model` value sent upstream; omitted when absent. */
  upstreamModel: string | undefined;
}

/**
 * The OpenAI chat and completions schema, as LMI (vLLM or TensorRT-LLM backend), vLLM and SGLang
 * containers take it on `/invocations`. The container applies the model's own chat template,
 * tool-call parser and reasoning parser; the gateway forwards the validated body and normalises
 * the answer (its own `id`, `created` and public `model` are set by the route). Streams may be
 * server-sent events or JSON lines; the invoker reads both.
 */
export const openAICodec = (options: OpenAICodecOptions): GenerationCodec => ({
  streamAccept: 'text/event-stream',
  encode(request, stream) {
    const { max_completion_tokens: _m, ...body } = request.body as Record<string, unknown>;
    return {
      ...(options.upstreamModel === undefined ? {} : { model: options.upstreamModel }),
      ...withoutPlatformFields(body),
      // Always bounded: the model's default when the client named no limit.
      max_tokens: request.maxTokens,
      // Usage is always asked for: metrics and usage records need it whatever the client wants.
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
  },
  decode(body, request) {
    const fail = malformed(options.modelId);
    if (!isObject(body)) throw fail('an answer that is not a JSON object');
    upstreamErrorIn(body, options.modelId, 'model_error');
    if (!Array.isArray(body.choices)) throw fail('an answer without choices');
    if (body.choices.length !== request.choices) {
      throw new UpstreamError(
        `Model '${options.modelId}' returned ${body.choices.length} choices for n=${request.choices}.`,
        { code: 'choice_count_mismatch' },
      );
    }
    const choices = body.choices.map((raw, position): Choice => {
      if (!isObject(raw)) throw fail('a choice that is not an object');
      const index = typeof raw.index === 'number' ? raw.index : position;
      const finishReason = finishOf(raw.finish_reason) ?? 'stop';
      const logprobs = raw.logprobs ?? null;
      if (request.kind === 'completion') {
        if (typeof raw.text !== 'string') throw fail('a completion choice without text');
        return { index, content: raw.text, logprobs, finishReason };
      }
      const message = raw.message;
      if (!isObject(message)) throw fail('a chat choice without a message');
      const content = message.content;
      if (content !== null && content !== undefined && typeof content !== 'string') {
        throw fail('message content that is not a string');
      }
      const choice: Choice = {
        index,
        content: typeof content === 'string' ? content : null,
        refusal: typeof message.refusal === 'string' ? message.refusal : null,
        logprobs,
        finishReason,
      };
      const reasoning = reasoningOf(message);
      if (reasoning !== undefined) choice.reasoning = reasoning;
      const toolCalls = toolCallsOf(message.tool_calls, options.modelId);
      if (toolCalls) choice.toolCalls = toolCalls;
      return choice;
    });
    return { choices, usage: usageOf(body.usage) } satisfies GenerationResult;
  },
  streamDecoder(request) {
    return new OpenAIStreamDecoder(request, options.modelId);
  },
});

class OpenAIStreamDecoder implements StreamDecoder {
  private readonly started = new Set<number>();
  private readonly ended = new Set<number>();

  constructor(
    private readonly request: GenerationRequest,
    private readonly modelId: string,
  ) {}

  get finished(): boolean {
    return this.ended.size >= this.request.choices;
  }

  push(event: unknown): GenerationChunk | undefined {
    const fail = malformed(this.modelId);
    if (!isObject(event)) throw fail('a stream event that is not a JSON object');
    upstreamErrorIn(event, this.modelId, 'model_stream_error');
    const rawChoices = event.choices ?? [];
    if (!Array.isArray(rawChoices)) throw fail('a stream event whose choices are not a list');
    const deltas: ChoiceDelta[] = [];
    for (const raw of rawChoices) {
      if (!isObject(raw) || typeof raw.index !== 'number') throw fail('a malformed stream choice');
      const index = raw.index;
      if (!Number.isInteger(index) || index < 0 || index >= this.request.choices) {
        throw new UpstreamError(
          `Model '${this.modelId}' streamed choice ${index} for n=${this.request.choices}.`,
          { code: 'choice_count_mismatch' },
        );
      }
      const delta = this.deltaOf(index, raw);
      if (delta) deltas.push(delta);
    }
    const usage = usageOf(event.usage);
    if (deltas.length === 0 && !usage) return undefined;
    return usage ? { deltas, usage } : { deltas };
  }

  private deltaOf(index: number, raw: Record<string, unknown>): ChoiceDelta | undefined {
    const fail = malformed(this.modelId);
    const out: ChoiceDelta = { index };
    // The first delta of each choice names the role, whether or not the container did.
    if (!this.started.has(index)) {
      this.started.add(index);
      out.role = 'assistant';
    }
    if (this.request.kind === 'completion') {
      if (raw.text !== undefined && typeof raw.text !== 'string') throw fail('a non-string text');
      if (raw.text) out.content = raw.text;
    } else {
      const delta = raw.delta ?? {};
      if (!isObject(delta)) throw fail('a delta that is not an object');
      if (delta.content !== undefined && delta.content !== null) {
        if (typeof delta.content !== 'string') throw fail('delta content that is not a string');
        if (delta.content !== '') out.content = delta.content;
      }
      const reasoning = reasoningOf(delta);
      if (reasoning) out.reasoning = reasoning;
      if (typeof delta.refusal === 'string' && delta.refusal !== '') out.refusal = delta.refusal;
      if (delta.tool_calls !== undefined && delta.tool_calls !== null) {
        if (!Array.isArray(delta.tool_calls) || !delta.tool_calls.every(isObject)) {
          throw fail('tool-call deltas that are not a list of objects');
        }
        if (delta.tool_calls.length > 0) out.toolCalls = delta.tool_calls;
      }
    }
    if (raw.logprobs !== undefined && raw.logprobs !== null) out.logprobs = raw.logprobs;
    const finish = finishOf(raw.finish_reason);
    if (finish) {
      out.finishReason = finish;
      this.ended.add(index);
    }
    return Object.keys(out).length > 1 ? out : undefined;
  }
}

/** Everything but the platform-only fields, which are accepted and never forwarded. */
const withoutPlatformFields = (body: Record<string, unknown>): Record<string, unknown> => {
  const {
    store: _s,
    metadata: _m,
    service_tier: _t,
    prompt_cache_key: _p,
    safety_identifier: _i,
    ...rest
  } = body;
  // Nulls mean "the default" in the OpenAI API; containers differ in how they read an explicit
  // null, so only values leave the gateway.
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null && v !== undefined));
};

const malformed = (modelId: string) => (what: string) =>
  new UpstreamError(`Model '${modelId}' returned ${what}.`, { code: 'bad_upstream_response' });

/** vLLM and SGLang report a failure inside a 200 body or stream as an error object. */
const upstreamErrorIn = (
  body: Record<string, unknown>,
  modelId: string,
  code: 'model_error' | 'model_stream_error',
): void => {
  if (isObject(body.error) || body.object === 'error') {
    throw new UpstreamError(`Model '${modelId}' failed while generating.`, {
      code,
      // The container's error text may quote the prompt; it is not logged.
      details: { upstream: 'error object in the answer' },
    });
  }
};

const FINISH_REASONS: readonly FinishReason[] = ['stop', 'length', 'tool_calls', 'content_filter'];

/** A finish reason in OpenAI's set; engines' own (`abort`, `eos`) read as `stop`. */
const finishOf = (raw: unknown): FinishReason | undefined => {
  if (raw === null || raw === undefined) return undefined;
  if (raw === 'function_call') return 'tool_calls';
  return FINISH_REASONS.includes(raw as FinishReason) ? (raw as FinishReason) : 'stop';
};

/** vLLM and SGLang name it `reasoning_content`; newer vLLM also `reasoning`. */
const reasoningOf = (m: Record<string, unknown>): string | undefined => {
  const r = m.reasoning_content ?? m.reasoning;
  return typeof r === 'string' ? r : undefined;
};

const toolCallsOf = (raw: unknown, modelId: string): ToolCall[] | undefined => {
  if (raw === null || raw === undefined) return undefined;
  const fail = malformed(modelId);
  if (!Array.isArray(raw)) throw fail('tool_calls that are not a list');
  if (raw.length === 0) return undefined;
  return raw.map((call) => {
    const fn = isObject(call) ? call.function : undefined;
    if (!isObject(call) || !isObject(fn) || typeof fn.name !== 'string') {
      throw fail('a malformed tool call');
    }
    const args =
      typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {});
    return {
      // Clients answer a tool call by its id: one the container left out is made up here.
      id:
        typeof call.id === 'string' && call.id !== ''
          ? call.id
          : `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      type: 'function' as const,
      function: { name: fn.name, arguments: args },
    };
  });
};

const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;

/** OpenAI's usage object, with the details containers report where they do. */
export const usageOf = (raw: unknown): Usage | undefined => {
  if (!isObject(raw)) return undefined;
  const prompt = count(raw.prompt_tokens);
  const completion = count(raw.completion_tokens);
  if (prompt === undefined || completion === undefined) return undefined;
  const usage: Usage = { promptTokens: prompt, completionTokens: completion };
  const details = raw.completion_tokens_details;
  const reasoning = isObject(details) ? count(details.reasoning_tokens) : undefined;
  if (reasoning !== undefined) usage.reasoningTokens = reasoning;
  const promptDetails = raw.prompt_tokens_details;
  const cached = isObject(promptDetails) ? count(promptDetails.cached_tokens) : undefined;
  if (cached !== undefined) usage.cachedTokens = cached;
  return usage;
};

import { UpstreamError } from '../../shared/errors.js';
import type { ChatTemplate } from './chat-template.js';
import { renderChat } from './chat-template.js';
import type {
  FinishReason,
  GenerationChunk,
  GenerationCodec,
  GenerationRequest,
  GenerationResult,
  StreamDecoder,
  Usage,
} from './generation.js';
import { isObject } from './object.js';
import type { ChatMessageBody } from './openai-schemas.js';

export interface TgiCodecOptions {
  modelId: string;
  /** How chat messages become the prompt. */
  chatTemplate: ChatTemplate;
}

/**
 * The legacy TGI generation schema, which LMI (DJL Serving) also accepts: `{"inputs",
 * "parameters"}` in, `generated_text` + `details` out (TGI answers a one-element array, LMI an
 * object; both are read). The gateway renders the chat template. Streams are one JSON object per
 * line, optionally prefixed `data:`. Requests reach it only with parameters it can express: the
 * model's allowed parameters are checked against `FORMAT_PARAMETERS.tgi` at start-up.
 */
export const tgiCodec = (options: TgiCodecOptions): GenerationCodec => ({
  streamAccept: 'application/jsonlines',
  encode(request, stream) {
    const parameters = tgiParameters(request);
    const inputs = promptOf(request, options.chatTemplate);
    return stream ? { inputs, parameters, stream: true } : { inputs, parameters };
  },
  decode(body) {
    return parseTgiResponse(body, options.modelId);
  },
  streamDecoder() {
    let finished = false;
    let started = false;
    return {
      get finished() {
        return finished;
      },
      push(event: unknown): GenerationChunk | undefined {
        const step = parseTgiStreamEvent(event, options.modelId);
        if (step.finishReason) finished = true;
        if (step.text === '' && !step.finishReason && started) return undefined;
        const delta = {
          index: 0,
          ...(started ? {} : { role: 'assistant' as const }),
          ...(step.text ? { content: step.text } : {}),
          ...(step.finishReason ? { finishReason: step.finishReason } : {}),
        };
        started = true;
        return step.usage ? { deltas: [delta], usage: step.usage } : { deltas: [delta] };
      },
    } satisfies StreamDecoder;
  },
});

const promptOf = (request: GenerationRequest, template: ChatTemplate): string => {
  if (request.kind === 'completion') {
    const p = request.body.prompt;
    return typeof p === 'string' ? p : p[0]!;
  }
  return renderChat(request.body.messages.map(textMessage), template);
};

/** Text of a message; images and tool calls never reach here (refused for `tgi` models). */
const textMessage = (m: ChatMessageBody) => {
  const content = m.content ?? '';
  return {
    role: m.role,
    content:
      typeof content === 'string'
        ? content
        : content.map((p) => (p.type === 'text' ? p.text : '')).join(''),
  };
};

const tgiParameters = (request: GenerationRequest): Record<string, unknown> => {
  const { temperature, top_p, stop, seed } = request.body;
  // OpenAI's default temperature is 1.
  const t = temperature ?? 1;
  const sample = t > 0;
  const parameters: Record<string, unknown> = {
    max_new_tokens: request.maxTokens,
    details: true,
    do_sample: sample,
  };
  // TGI rejects temperature 0; greedy decoding is do_sample=false.
  if (sample) parameters.temperature = t;
  if (sample && top_p != null && top_p < 1) parameters.top_p = top_p;
  const stops = stop == null ? [] : typeof stop === 'string' ? [stop] : stop;
  if (stops.length > 0) parameters.stop = stops;
  if (seed != null) parameters.seed = seed;
  return parameters;
};

const finishReason = (raw: unknown): FinishReason => (raw === 'length' ? 'length' : 'stop');

const usageOf = (details: Record<string, unknown> | undefined): Usage | undefined => {
  const completion = details?.generated_tokens;
  const prompt = details?.prompt_tokens;
  if (typeof completion !== 'number') return undefined;
  return { promptTokens: typeof prompt === 'number' ? prompt : 0, completionTokens: completion };
};

/** @throws UpstreamError when the answer is not the TGI shape */
export const parseTgiResponse = (body: unknown, modelId: string): GenerationResult => {
  const first = Array.isArray(body) ? body[0] : body;
  if (!isObject(first) || typeof first.generated_text !== 'string') {
    throw new UpstreamError(`Model '${modelId}' returned an answer without generated_text.`, {
      code: 'bad_upstream_response',
    });
  }
  const details = isObject(first.details) ? first.details : undefined;
  return {
    choices: [
      {
        index: 0,
        content: first.generated_text,
        logprobs: null,
        finishReason: finishReason(details?.finish_reason),
      },
    ],
    usage: usageOf(details),
  };
};

interface TgiStep {
  text: string;
  finishReason?: FinishReason;
  usage?: Usage;
}

/**
 * Reads one stream event. Token events give text; the closing event (with `details`) gives
 * the finish reason and usage. Special tokens (end of sequence) carry no text.
 * @throws UpstreamError for a line that is neither
 */
export const parseTgiStreamEvent = (event: unknown, modelId: string): TgiStep => {
  if (!isObject(event))
    throw new UpstreamError(`Model '${modelId}' sent a malformed stream event.`, {
      code: 'bad_upstream_response',
    });
  if (typeof event.error === 'string') {
    throw new UpstreamError(`Model '${modelId}' failed while streaming.`, {
      code: 'model_stream_error',
      // The container's error text may quote the prompt; it is not logged.
      details: { upstream: 'stream error event' },
    });
  }
  const token = isObject(event.token) ? event.token : undefined;
  const text = token && token.special !== true && typeof token.text === 'string' ? token.text : '';
  if (!token && !isObject(event.details)) {
    throw new UpstreamError(`Model '${modelId}' sent a malformed stream event.`, {
      code: 'bad_upstream_response',
    });
  }
  const details = isObject(event.details) ? event.details : undefined;
  if (!details) return { text };
  const usage = usageOf(details);
  return usage
    ? { text, finishReason: finishReason(details.finish_reason), usage }
    : { text, finishReason: finishReason(details.finish_reason) };
};

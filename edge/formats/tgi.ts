import { UpstreamError } from '../../shared/errors.js';
import type {
  FinishReason,
  GenerationChunk,
  GenerationRequest,
  GenerationResult,
} from './generation.js';

/**
 * The TGI generation schema, which LMI (DJL Serving) and vLLM-on-LMI also accept:
 * `{"inputs", "parameters"}` in, `generated_text` + `details` out (TGI answers a one-element
 * array, LMI an object; both are read). Streams are one JSON object per line, optionally
 * prefixed `data:` (TGI's server-sent events).
 */
export const toTgiRequest = (r: GenerationRequest, stream: boolean): Record<string, unknown> => {
  const sample = r.temperature !== undefined && r.temperature > 0;
  const parameters: Record<string, unknown> = {
    max_new_tokens: r.maxTokens,
    details: true,
    do_sample: sample,
  };
  // TGI rejects temperature 0; greedy decoding is do_sample=false.
  if (sample) parameters.temperature = r.temperature;
  if (sample && r.topP !== undefined && r.topP < 1) parameters.top_p = r.topP;
  if (r.stop.length > 0) parameters.stop = r.stop;
  if (r.seed !== undefined) parameters.seed = r.seed;
  return stream ? { inputs: r.prompt, parameters, stream: true } : { inputs: r.prompt, parameters };
};

const finishReason = (raw: unknown): FinishReason => (raw === 'length' ? 'length' : 'stop');

const usageOf = (details: Record<string, unknown> | undefined) => {
  const completion = details?.generated_tokens;
  const prompt = details?.prompt_tokens;
  if (typeof completion !== 'number') return undefined;
  return { promptTokens: typeof prompt === 'number' ? prompt : 0, completionTokens: completion };
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

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
    text: first.generated_text,
    finishReason: finishReason(details?.finish_reason),
    usage: usageOf(details),
  };
};

/**
 * Reads one stream event. Token events give text; the closing event (with `details`) gives
 * the finish reason and usage. Special tokens (end of sequence) carry no text.
 * @throws UpstreamError for a line that is neither
 */
export const parseTgiStreamEvent = (event: unknown, modelId: string): GenerationChunk => {
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

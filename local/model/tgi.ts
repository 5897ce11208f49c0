import type {
  LlamaContextSequence,
  LlamaModel,
  SequenceEvaluateOptions,
  Token,
} from 'node-llama-cpp';
import { z } from 'zod';
import { EndpointFault } from '../endpoint/backend.js';

/**
 * The TGI / LMI generation schema (`{"inputs", "parameters"}`), as SageMaker TGI and LMI
 * containers take it. Unknown parameters are ignored, as those containers mostly do.
 */
export const tgiRequestSchema = z.object({
  inputs: z.string(),
  parameters: z
    .object({
      max_new_tokens: z.number().int().min(1).optional(),
      temperature: z.number().min(0).max(100).optional(),
      top_p: z.number().gt(0).max(1).optional(),
      top_k: z.number().int().min(1).optional(),
      stop: z.array(z.string().min(1)).max(16).optional(),
      seed: z
        .number()
        .int()
        .min(0)
        .max(2 ** 32 - 1)
        .optional(),
      do_sample: z.boolean().optional(),
      details: z.boolean().optional(),
    })
    .default({}),
});

export type TgiRequest = z.infer<typeof tgiRequestSchema>;
export type FinishReason = 'length' | 'eos_token' | 'stop_sequence';

export interface TgiToken {
  id: number;
  text: string;
  logprob: number;
  special: boolean;
}

export interface TgiDetails {
  finish_reason: FinishReason;
  generated_tokens: number;
  prompt_tokens: number;
  /** The seed used when sampling, as TGI reports it; null when greedy. */
  seed: number | null;
}

/** One step of a generation; `final` is set on the last one. */
export interface GenerationStep {
  token: TgiToken;
  final?: { generatedText: string; details: TgiDetails };
}

/** What a generation needs from the loaded model. */
export interface GenerationLimits {
  /** Used when the request names no `max_new_tokens`. @default 100 */
  defaultMaxNewTokens: number;
  /** Prompt plus new tokens must fit the context of one sequence. */
  contextSize: number;
}

const decoder = new TextDecoder();

/** Parses and checks a TGI request body; failures are the container's 4xx, as TGI answers. */
export function parseTgiRequest(body: Uint8Array): TgiRequest {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    throw new EndpointFault('model', 'Failed to parse the request body as JSON', 400);
  }
  return checkTgiRequest(json);
}

/** Checks an already parsed TGI request body; a violation is TGI's 422. */
export function checkTgiRequest(json: unknown): TgiRequest {
  const parsed = tgiRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(body)';
    throw new EndpointFault('model', `Input validation error: ${where}: ${issue?.message}`, 422);
  }
  return parsed.data;
}

/**
 * Greedy unless sampling is asked for: `do_sample: true`, or a temperature above 0 without
 * `do_sample: false`. A temperature of 0 is accepted (LMI does; TGI would reject it) and is greedy.
 */
function samplingOptions(request: TgiRequest): {
  options: SequenceEvaluateOptions;
  seed: number | null;
} {
  const p = request.parameters;
  const sample = p.do_sample ?? (p.temperature !== undefined && p.temperature > 0);
  if (!sample || p.temperature === 0) return { options: { temperature: 0 }, seed: null };
  const seed = p.seed ?? Math.floor(Math.random() * 2 ** 32);
  return {
    options: { temperature: p.temperature ?? 1, topP: p.top_p, topK: p.top_k, seed },
    seed,
  };
}

/** Tokens of the prompt, with BOS when the model wants one (as TGI counts `prompt_tokens`). */
function promptTokens(model: LlamaModel, inputs: string): Token[] {
  const tokens = model.tokenize(inputs);
  const bos = model.tokens.bos;
  if (bos !== null && model.tokens.shouldPrependBosToken && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}

/**
 * Generates on `sequence`, one step per token, computing the next token only when the caller
 * asks for it, so a streamed first token leaves before the last is computed. Returns early,
 * without a final step, when `signal` aborts.
 */
export async function* generate(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  request: TgiRequest,
  limits: GenerationLimits,
  signal: AbortSignal,
): AsyncGenerator<GenerationStep, void, undefined> {
  const prompt = promptTokens(model, request.inputs);
  const maxNewTokens = request.parameters.max_new_tokens ?? limits.defaultMaxNewTokens;
  if (prompt.length + maxNewTokens > limits.contextSize) {
    throw new EndpointFault(
      'model',
      `Input validation error: inputs tokens + max_new_tokens must be <= ${limits.contextSize}. Given: ${prompt.length} inputs tokens and ${maxNewTokens} max_new_tokens`,
      422,
    );
  }
  const stops = request.parameters.stop ?? [];
  const { options, seed } = samplingOptions(request);

  let text = '';
  let generated = 0;
  // Tokens whose text is not out yet: a token may end inside a multi-byte character.
  let pending: Token[] = [];
  let context: Token[] = prompt.slice(-4);
  const steps = sequence.evaluateWithMetadata(
    prompt,
    { confidence: true },
    { ...options, yieldEogToken: true },
  );
  const details = (finish_reason: FinishReason): TgiDetails => ({
    finish_reason,
    generated_tokens: generated,
    prompt_tokens: prompt.length,
    seed,
  });

  for await (const { token, confidence } of steps) {
    if (signal.aborted) return;
    generated++;
    const logprob = Math.log(Math.max(confidence, Number.MIN_VALUE));
    if (model.isEogToken(token)) {
      const rest = pending.length > 0 ? model.detokenize(pending, false, context) : '';
      text += rest;
      yield {
        token: { id: token, text: rest, logprob, special: true },
        final: { generatedText: text, details: details('eos_token') },
      };
      return;
    }
    pending.push(token);
    let piece = model.detokenize(pending, false, context);
    const last = generated >= maxNewTokens;
    if (piece.endsWith('\uFFFD') && !last) {
      piece = '';
    } else {
      context = [...context, ...pending].slice(-4);
      pending = [];
    }
    text += piece;
    const stopped =
      piece !== '' &&
      stops.some((stop) => text.slice(-(stop.length + piece.length)).includes(stop));
    const step: GenerationStep = { token: { id: token, text: piece, logprob, special: false } };
    if (stopped || last) {
      step.final = { generatedText: text, details: details(stopped ? 'stop_sequence' : 'length') };
    }
    yield step;
    if (step.final) return;
  }
  if (signal.aborted) return;
  throw new EndpointFault('model', 'Generation ended before a stop condition', 500);
}

import {
  LlamaGrammarEvaluationState,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type LlamaText,
  type SequenceEvaluateOptions,
  type Token,
} from 'node-llama-cpp';

/** One token's log probability in the OpenAI shape (`choices[].logprobs.content[]`). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export interface DecodeOptions {
  model: LlamaModel;
  sequence: LlamaContextSequence;
  /** Evaluated first: the prompt, or what continues the sequence's earlier tokens. */
  tokens: Token[];
  maxTokens: number;
  /** Temperature, top-p, top-k, seed. */
  sampling: SequenceEvaluateOptions;
  /** OpenAI's presence and frequency penalties, applied to the tokens generated so far. */
  penalties?: { presence: number; frequency: number } | undefined;
  /** Constrains every token; its stop triggers end the text like `stops`. */
  grammar?: LlamaGrammar | undefined;
  /** End the text where one appears; the stop text itself is not part of the output. */
  stops: readonly string[];
  /** Report each token's logprob with this many alternatives; undefined reports none. */
  topLogprobs?: number | undefined;
  signal: AbortSignal;
}

export interface DecodeStep {
  /** Text released by this token: held back while it may still turn into a stop string. */
  text: string;
  logprob?: TokenLogprob;
  /** Set on the last step. */
  finish?: { reason: 'stop' | 'length'; tokens: number };
}

const encoder = new TextEncoder();
const logOf = (p: number) => Math.log(Math.max(p, Number.MIN_VALUE));

/** Length of the longest end of `text` that is the start of some stop string. */
function heldBack(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

/** Plain-text stop triggers of a grammar (`LlamaJsonSchemaGrammar` ends at four newlines). */
function grammarStops(grammar: LlamaGrammar | undefined): string[] {
  const values = (trigger: NonNullable<typeof grammar>['stopGenerationTriggers'][number]) =>
    typeof trigger === 'string'
      ? [trigger]
      : trigger instanceof Array
        ? trigger
        : (trigger as LlamaText).values;
  return (grammar?.stopGenerationTriggers ?? []).flatMap((trigger) => {
    const parts = values(trigger);
    return parts.every((part) => typeof part === 'string') ? [parts.join('')] : [];
  });
}

/**
 * Generates on `sequence`, one step per token, computing the next token only when the caller
 * pulls, so a streamed token leaves before the next is computed. Ends at an end-of-generation
 * token or a completed grammar (`stop`), a stop string (`stop`, the string cut off), or
 * `maxTokens` (`length`). Returns without a final step when `signal` aborts.
 */
export async function* decode(options: DecodeOptions): AsyncGenerator<DecodeStep, void, undefined> {
  const { model, grammar, maxTokens, topLogprobs, signal } = options;
  const stops = [...options.stops, ...grammarStops(grammar)];
  const grammarEvaluationState = grammar && new LlamaGrammarEvaluationState({ model, grammar });
  const wantAlternatives = topLogprobs !== undefined && topLogprobs > 0;

  let generated = 0;
  const output: Token[] = [];
  const penalties = options.penalties;
  const repeatPenalty = penalties && {
    punishTokens: () => output,
    penalty: 1,
    presencePenalty: penalties.presence,
    frequencyPenalty: penalties.frequency,
  };
  let held = '';
  // Tokens whose text is not out yet: a token may end inside a multi-byte character.
  let pending: Token[] = [];
  let context: Token[] = options.tokens.slice(-4);
  const piece = (tokens: Token[]) => model.detokenize(tokens, false, context);
  const entry = (token: Token, probability: number) => {
    const text = piece([token]);
    return { token: text, logprob: logOf(probability), bytes: [...encoder.encode(text)] };
  };

  const steps = options.sequence.evaluateWithMetadata(
    options.tokens,
    { confidence: true, probabilities: wantAlternatives },
    {
      ...options.sampling,
      grammarEvaluationState,
      ...(repeatPenalty && { repeatPenalty }),
      yieldEogToken: true,
    },
  );
  for await (const next of steps) {
    if (signal.aborted) return;
    generated++;
    output.push(next.token);
    let logprob: TokenLogprob | undefined;
    if (topLogprobs !== undefined && !model.isEogToken(next.token)) {
      const alternatives =
        'probabilities' in next && next.probabilities instanceof Map
          ? [...(next.probabilities as Map<Token, number>)]
              .slice(0, topLogprobs)
              .map(([token, p]) => entry(token, p))
          : [];
      logprob = { ...entry(next.token, next.confidence), top_logprobs: alternatives };
    }
    if (model.isEogToken(next.token)) {
      const rest = held + (pending.length > 0 ? piece(pending) : '');
      yield { text: rest, finish: { reason: 'stop', tokens: generated } };
      return;
    }
    pending.push(next.token);
    const last = generated >= maxTokens;
    const text = piece(pending);
    if (!text.endsWith('\uFFFD') || last) {
      context = [...context, ...pending].slice(-4);
      pending = [];
      held += text;
    }
    const hit = stops
      .map((stop) => held.indexOf(stop))
      .filter((at) => at >= 0)
      .sort((a, b) => a - b)[0];
    if (hit !== undefined) {
      yield {
        text: held.slice(0, hit),
        ...(logprob && { logprob }),
        finish: { reason: 'stop', tokens: generated },
      };
      return;
    }
    const keep = last ? 0 : heldBack(held, stops);
    const out = held.slice(0, held.length - keep);
    held = held.slice(held.length - keep);
    const step: DecodeStep = { text: out, ...(logprob && { logprob }) };
    if (last) step.finish = { reason: 'length', tokens: generated };
    yield step;
    if (last) return;
  }
}

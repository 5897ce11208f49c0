import type { ChatCompletionBody, CompletionBody, ToolCall } from './openai-schemas.js';

/**
 * What the routes hand to a generation pipeline: the validated OpenAI body (model limits applied),
 * independent of the container's wire schema. Codecs translate it for the container.
 */
export type GenerationRequest =
  | { kind: 'chat'; body: RequestBody<ChatCompletionBody>; maxTokens: number; choices: number }
  | { kind: 'completion'; body: RequestBody<CompletionBody>; maxTokens: number; choices: number };

/** The body without what the gateway itself decides: routing (`model`) and framing (`stream`). */
type RequestBody<B> = Omit<B, 'model' | 'stream' | 'stream_options'>;

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Tokens of reasoning inside `completionTokens`, where the container reports them. */
  reasoningTokens?: number;
  /** Prompt tokens served from the engine's prefix cache, where the container reports them. */
  cachedTokens?: number;
}

/** One choice of a finished generation, normalised to what the OpenAI API returns. */
export interface Choice {
  index: number;
  /** Message content (chat) or text (completions). */
  content: string | null;
  /** DeepSeek-R1's chain of thought, kept apart from the answer. */
  reasoning?: string;
  toolCalls?: ToolCall[];
  refusal?: string | null;
  /** In the OpenAI shape of the route (chat: `{content: [...]}`), passed through. */
  logprobs: unknown;
  finishReason: FinishReason;
}

export interface GenerationResult {
  choices: Choice[];
  /** Present where the container reports token counts. */
  usage: Usage | undefined;
}

/** The change to one choice carried by one stream event. */
export interface ChoiceDelta {
  index: number;
  role?: 'assistant';
  content?: string;
  reasoning?: string;
  /** OpenAI tool-call deltas (`index`, `id`, `function.arguments` fragments), unchanged. */
  toolCalls?: unknown[];
  refusal?: string;
  logprobs?: unknown;
  finishReason?: FinishReason;
}

/** One event of a streamed generation: deltas of some choices, or the closing usage. */
export interface GenerationChunk {
  deltas: ChoiceDelta[];
  usage?: Usage;
}

/**
 * Whether two identical requests must produce identical outputs, which is what makes sharing one
 * upstream call between them safe: greedy decoding of a single choice.
 */
export const isDeterministic = (r: GenerationRequest): boolean =>
  r.body.temperature === 0 && r.choices === 1;

/** Translates between the gateway's generation request/result and one container schema. */
export interface GenerationCodec {
  /** The body sent to the container. */
  encode(request: GenerationRequest, stream: boolean): unknown;
  /** `Accept` of a streamed call. */
  readonly streamAccept: string;
  /** @throws UpstreamError when the answer is not this schema's */
  decode(body: unknown, request: GenerationRequest): GenerationResult;
  /** A decoder for one stream; it keeps the stream's state (which choices have finished). */
  streamDecoder(request: GenerationRequest): StreamDecoder;
}

export interface StreamDecoder {
  /**
   * Reads one upstream event.
   * @returns the chunk it carries, or `undefined` for events that carry nothing for the client
   * @throws UpstreamError for an error event or an event that is not this schema's
   */
  push(event: unknown): GenerationChunk | undefined;
  /** True once every choice has finished: only then is the stream a complete answer. */
  readonly finished: boolean;
}

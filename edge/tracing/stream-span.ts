import type { Span } from '@opentelemetry/api';
import type {
  Choice,
  FinishReason,
  GenerationChunk,
  GenerationResult,
  Usage,
} from '../formats/generation.js';
import { GEN_AI, failed, type OutputChoice } from './attributes.js';

interface StreamSpanOptions {
  /** Assemble each choice's text for `gen_ai.output.messages`. */
  recordContent: boolean;
  /** Called once when the stream ends: its result, or the error that ended it. */
  finish: (result: GenerationResult | undefined, error: unknown) => void;
}

/**
 * The client span of one streamed upstream call. It keeps what the stream said about each choice
 * (finish reason, and with content recording its text) and the closing usage, so the request span
 * gets the same attributes as for an answer that does not stream.
 */
export class StreamSpan {
  private readonly choices = new Map<number, OutputChoice>();
  private usage: Usage | undefined;
  private started = false;
  private ended = false;

  constructor(
    private readonly span: Span,
    private readonly options: StreamSpanOptions,
  ) {}

  /** One chunk the pipeline passes on to the client. */
  chunk(chunk: GenerationChunk): void {
    this.started = true;
    if (chunk.usage) this.usage = chunk.usage;
    for (const delta of chunk.deltas) {
      let choice = this.choices.get(delta.index);
      if (!choice) {
        choice = { content: null, finishReason: undefined };
        this.choices.set(delta.index, choice);
      }
      if (delta.finishReason) choice.finishReason = delta.finishReason;
      if (!this.options.recordContent) continue;
      if (delta.content) choice.content = (choice.content ?? '') + delta.content;
      if (delta.reasoning) choice.reasoning = (choice.reasoning ?? '') + delta.reasoning;
    }
  }

  /**
   * Ends the span.
   * @param outcome `undefined` for a complete stream, else the error that ended it (a
   *   `ClientClosedError` when the caller left)
   */
  end(outcome: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const ordered = [...this.choices.entries()].sort(([a], [b]) => a - b);
    const finishReasons = ordered
      .map(([, c]) => c.finishReason)
      .filter((r): r is FinishReason => r !== undefined);
    this.span.setAttribute(GEN_AI.finishReasons, finishReasons);
    if (outcome !== undefined) failed(this.span, outcome);
    this.span.end();
    if (outcome !== undefined) {
      // Before the first chunk a failure is the route's HTTP error (or a failover's next try).
      if (this.started) this.options.finish(undefined, outcome);
      return;
    }
    // A complete stream: the pipeline checked that every choice finished.
    const choices: Choice[] = ordered.map(([index, c]) => ({
      index,
      content: c.content,
      ...(c.reasoning === undefined ? {} : { reasoning: c.reasoning }),
      logprobs: null,
      finishReason: c.finishReason ?? 'stop',
    }));
    this.options.finish({ choices, usage: this.usage }, undefined);
  }
}

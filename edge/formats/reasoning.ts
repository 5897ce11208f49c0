import type { Choice, ChoiceDelta, GenerationChunk, GenerationResult } from './generation.js';

/** How a model's reasoning reaches the client (`reasoning` in the catalogue). */
export type ReasoningMode = 'field' | 'think-tags' | 'none';

const OPEN = '<think>';
const CLOSE = '</think>';

/**
 * Splits a leading `<think>…</think>` block out of text that arrives in pieces, as DeepSeek-R1
 * writes it when the container has no reasoning parser. A tag may be cut anywhere between two
 * pieces, so a piece's tail that could still become a tag is held back until the next piece (or
 * the end) decides. Only a block at the very start counts: `<think>` later in an answer is text.
 */
export class ThinkTagSplitter {
  private mode: 'start' | 'reasoning' | 'content' = 'start';
  private held = '';
  /** Whether the answer after `</think>` has begun (its leading blank lines are dropped). */
  private answerStarted = false;

  /** Feeds one piece; returns what it settles. */
  push(text: string): { reasoning: string; content: string } {
    this.held += text;
    let reasoning = '';
    let content = '';
    for (;;) {
      if (this.mode === 'start') {
        const trimmed = this.held.trimStart();
        if (trimmed.startsWith(OPEN)) {
          this.held = trimmed.slice(OPEN.length);
          this.mode = 'reasoning';
          continue;
        }
        // Undecided while what we have could still be the opening tag.
        if (OPEN.startsWith(trimmed)) break;
        this.mode = 'content';
        this.answerStarted = true;
        continue;
      }
      if (this.mode === 'reasoning') {
        const end = this.held.indexOf(CLOSE);
        if (end >= 0) {
          reasoning += this.held.slice(0, end);
          this.held = this.held.slice(end + CLOSE.length);
          this.mode = 'content';
          continue;
        }
        const keep = partialSuffix(this.held, CLOSE);
        reasoning += this.held.slice(0, this.held.length - keep);
        this.held = this.held.slice(this.held.length - keep);
        break;
      }
      content += this.answer(this.held);
      this.held = '';
      break;
    }
    return { reasoning, content };
  }

  /** Ends the text: whatever was held back is settled as what it turned out to be. */
  end(): { reasoning: string; content: string } {
    const rest = this.held;
    this.held = '';
    if (this.mode === 'reasoning') return { reasoning: rest, content: '' };
    return { reasoning: '', content: this.mode === 'start' ? rest : this.answer(rest) };
  }

  private answer(text: string): string {
    if (this.answerStarted) return text;
    const trimmed = text.replace(/^\s+/, '');
    if (trimmed !== '') this.answerStarted = true;
    return trimmed;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
const partialSuffix = (text: string, tag: string): number => {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (tag.startsWith(text.slice(text.length - n))) return n;
  }
  return 0;
};

/** Applies a model's reasoning mode to a finished generation. */
export const applyReasoning = (result: GenerationResult, mode: ReasoningMode): GenerationResult => {
  if (mode === 'field') return result;
  return { ...result, choices: result.choices.map((c) => reasonChoice(c, mode)) };
};

const reasonChoice = (choice: Choice, mode: 'think-tags' | 'none'): Choice => {
  const { reasoning: _dropped, ...rest } = choice;
  if (mode === 'none' || choice.content === null) return rest;
  const splitter = new ThinkTagSplitter();
  const a = splitter.push(choice.content);
  const b = splitter.end();
  const reasoning = a.reasoning + b.reasoning;
  const content = a.content + b.content;
  return reasoning === '' && !choice.content.trimStart().startsWith(OPEN)
    ? { ...rest, content }
    : { ...rest, content, reasoning };
};

/**
 * A stream's reasoning filter: one per stream, keeping a splitter per choice. `flush` settles
 * what the splitters still hold; call it before the chunk that finishes a choice is passed on.
 */
export class StreamReasoning {
  private readonly splitters = new Map<number, ThinkTagSplitter>();

  constructor(private readonly mode: ReasoningMode) {}

  apply(chunk: GenerationChunk): GenerationChunk {
    if (this.mode === 'field') return chunk;
    return { ...chunk, deltas: chunk.deltas.flatMap((d) => this.delta(d)) };
  }

  private delta(delta: ChoiceDelta): ChoiceDelta[] {
    const { reasoning: _dropped, ...rest } = delta;
    if (this.mode === 'none') return keep(rest) ? [rest] : [];
    let splitter = this.splitters.get(delta.index);
    if (!splitter) this.splitters.set(delta.index, (splitter = new ThinkTagSplitter()));
    const { reasoning: _r, content: _c, ...unchanged } = delta;
    const out: ChoiceDelta = unchanged;
    const pushed = splitter.push(delta.content ?? '');
    const settled = delta.finishReason ? merge(pushed, splitter.end()) : pushed;
    if (settled.reasoning) out.reasoning = settled.reasoning;
    if (settled.content) out.content = settled.content;
    return keep(out) ? [out] : [];
  }
}

const merge = (a: { reasoning: string; content: string }, b: typeof a) => ({
  reasoning: a.reasoning + b.reasoning,
  content: a.content + b.content,
});

/** A delta is worth sending when it changes anything besides naming its choice. */
const keep = (d: ChoiceDelta): boolean => Object.keys(d).some((k) => k !== 'index');

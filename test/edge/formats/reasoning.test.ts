import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyReasoning,
  StreamReasoning,
  ThinkTagSplitter,
} from '../../../edge/formats/reasoning.js';

/** Feeds `text` in the given pieces and returns what the splitter settled. */
const split = (pieces: string[]) => {
  const s = new ThinkTagSplitter();
  let reasoning = '';
  let content = '';
  for (const p of [...pieces.map((p) => s.push(p)), s.end()]) {
    reasoning += p.reasoning;
    content += p.content;
  }
  return { reasoning, content };
};

/** Cuts `text` at the given positions. */
const cut = (text: string, at: number[]) => {
  const points = [...new Set(at.map((i) => i % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(text.slice(from, p));
    from = p;
  }
  pieces.push(text.slice(from));
  return pieces;
};

const words = fc.string({
  unit: fc.constantFrom('a', 'b', ' ', '\n', '<', '>', '/', 't', 'h', 'i', 'n', 'k'),
});

describe('think-tag splitting', () => {
  it('splits a leading think block out of the content', () => {
    expect(split(['<think>\nweigh it\n</think>\n\nThe answer.'])).toEqual({
      reasoning: '\nweigh it\n',
      content: 'The answer.',
    });
  });

  it('leaves text without a leading think block alone, tags later in the text included', () => {
    expect(split(['Plain answer with <think>tags</think> inside'])).toEqual({
      reasoning: '',
      content: 'Plain answer with <think>tags</think> inside',
    });
  });

  it('settles the same way however the text is cut into pieces', () => {
    fc.assert(
      fc.property(words, words, fc.array(fc.nat(), { maxLength: 12 }), (thought, answer, at) => {
        const text = `<think>${thought}</think>${answer}`;
        expect(split(cut(text, at))).toEqual(split([text]));
      }),
      { numRuns: 2000 },
    );
  });

  it('cut at every position of a tagged answer, gives the whole reasoning and content', () => {
    const text = ' <think>a</thin</think>\nb<think>c';
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        expect(split([text.slice(0, i), text.slice(i, j), text.slice(j)])).toEqual({
          reasoning: 'a</thin',
          content: 'b<think>c',
        });
      }
    }
  });

  it('applies to streams per choice, settling held text when a choice finishes', () => {
    const stream = new StreamReasoning('think-tags');
    const out = [
      {
        deltas: [
          { index: 0, role: 'assistant' as const, content: '<th' },
          { index: 1, content: 'hi' },
        ],
      },
      { deltas: [{ index: 0, content: 'ink>r</th' }] },
      { deltas: [{ index: 0, content: 'ink>ok', finishReason: 'stop' as const }] },
    ].map((c) => stream.apply(c));
    expect(out).toEqual([
      {
        deltas: [
          { index: 0, role: 'assistant' },
          { index: 1, content: 'hi' },
        ],
      },
      { deltas: [{ index: 0, reasoning: 'r' }] },
      { deltas: [{ index: 0, content: 'ok', finishReason: 'stop' }] },
    ]);
  });

  it("drops reasoning for models set to 'none' and keeps it for 'field'", () => {
    const result = {
      choices: [
        { index: 0, content: 'a', reasoning: 'r', logprobs: null, finishReason: 'stop' as const },
      ],
      usage: undefined,
    };
    expect(applyReasoning(result, 'none').choices[0]).not.toHaveProperty('reasoning');
    expect(applyReasoning(result, 'field')).toBe(result);
    expect(new StreamReasoning('none').apply({ deltas: [{ index: 0, reasoning: 'r' }] })).toEqual({
      deltas: [],
    });
  });
});

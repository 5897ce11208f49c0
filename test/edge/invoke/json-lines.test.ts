import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineAssembler, parsePayloadLine } from '../../../edge/invoke/json-lines.js';

const encoder = new TextEncoder();

const splitAt = (bytes: Uint8Array, cuts: number[]): Uint8Array[] => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    parts.push(bytes.slice(last, p));
    last = p;
  }
  parts.push(bytes.slice(last));
  return parts;
};

describe('LineAssembler', () => {
  it('re-assembles a JSON line split across parts', () => {
    const lines = new LineAssembler();
    expect(lines.push(encoder.encode('data:{"token":{"te'))).toEqual([]);
    expect(lines.push(encoder.encode('xt":"hi"}}\n\ndata:{"tok'))).toEqual([
      'data:{"token":{"text":"hi"}}',
      '',
    ]);
    expect(lines.push(encoder.encode('en":{}}\n'))).toEqual(['data:{"token":{}}']);
    expect(lines.end()).toEqual([]);
  });

  it('yields the same lines however the bytes are cut, multi-byte characters included', () => {
    const line = fc.string({
      unit: fc.constantFrom('a', 'é', '中', '🙂', '"', ' ', '\\'),
      maxLength: 30,
    });
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (texts, cuts) => {
          const payload = texts.map((t) => JSON.stringify({ t })).join('\n') + '\n';
          const lines = new LineAssembler();
          const out: string[] = [];
          for (const part of splitAt(encoder.encode(payload), cuts)) out.push(...lines.push(part));
          out.push(...lines.end());
          expect(out.map((l) => (JSON.parse(l) as { t: string }).t)).toEqual(texts);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('returns a last line that has no newline at the end', () => {
    const lines = new LineAssembler();
    lines.push(encoder.encode('{"a":1}\n{"b":'));
    expect(lines.push(encoder.encode('2}'))).toEqual([]);
    expect(lines.end()).toEqual(['{"b":2}']);
  });
});

describe('parsePayloadLine', () => {
  it.each([
    ['{"a":1}', { a: 1 }],
    ['data:{"a":1}', { a: 1 }],
    ['data: {"a":1}', { a: 1 }],
    ['', undefined],
    [': keep-alive', undefined],
    ['event: message', undefined],
    ['data: [DONE]', undefined],
  ])('reads %j', (line, expected) => {
    expect(parsePayloadLine(line)).toEqual(expected);
  });

  it('throws on a payload that is not JSON', () => {
    expect(() => parsePayloadLine('data: {nope')).toThrow(SyntaxError);
  });
});

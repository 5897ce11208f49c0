/**
 * What the simulated models answer: pure functions of each input, so a test can recompute the
 * expected output of every caller and see at once when one received another's.
 */

/** FNV-1a, 32 bits. */
const fnv = (text: string, seed = 0x811c9dc5): number => {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
};

/** The embedding of `text`: four numbers that differ for any two inputs a test would use. */
export const embeddingOf = (text: string): number[] => [
  fnv(text) / 2 ** 32,
  fnv(text, 0x12345678) / 2 ** 32,
  text.length,
  fnv(text.split(':')[0] ?? '') / 2 ** 32,
];

/** The greedy completion of `prompt`. Sampled completions append a per-call suffix. */
export const completionOf = (prompt: string): string => `echo(${prompt})`;

/** How a completion is cut into streamed tokens. */
export const tokensOf = (text: string): string[] => text.match(/.{1,4}/gs) ?? [];

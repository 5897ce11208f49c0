import { UpstreamError } from '../../shared/errors.js';

/** The TEI embedding schema: `{"inputs": [...]}` in, one vector per input out, in order. */
export const toTeiRequest = (inputs: readonly string[]): Record<string, unknown> => ({
  inputs,
  normalize: true,
  truncate: true,
});

/**
 * @throws UpstreamError when the answer is not a list of `expected` numeric vectors: a batch
 * answered with the wrong count fails every member instead of delivering by position.
 */
export const parseTeiResponse = (body: unknown, expected: number, modelId: string): number[][] => {
  if (!Array.isArray(body)) {
    throw new UpstreamError(
      `Model '${modelId}' returned an answer that is not a list of vectors.`,
      { code: 'bad_upstream_response' },
    );
  }
  if (body.length !== expected) {
    throw new UpstreamError(
      `Model '${modelId}' returned ${body.length} vectors for ${expected} inputs.`,
      {
        code: 'batch_size_mismatch',
      },
    );
  }
  for (const v of body) {
    if (
      !Array.isArray(v) ||
      v.length === 0 ||
      !v.every((x) => typeof x === 'number' && Number.isFinite(x))
    ) {
      throw new UpstreamError(`Model '${modelId}' returned a malformed vector.`, {
        code: 'bad_upstream_response',
      });
    }
  }
  return body as number[][];
};

/** OpenAI's `encoding_format: base64`: the little-endian float32 bytes, base64-encoded. */
export const toBase64Float32 = (vector: readonly number[]): string => {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
};

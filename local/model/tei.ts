import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { z } from 'zod';
import { EndpointFault } from '../endpoint/backend.js';

/** The TEI `/embed` schema, as the SageMaker TEI container takes it. */
export const teiRequestSchema = z.object({
  inputs: z.union([z.string(), z.array(z.string())]),
  normalize: z.boolean().default(true),
  truncate: z.boolean().default(false),
});

export type TeiRequest = z.infer<typeof teiRequestSchema>;

const decoder = new TextDecoder();

/** Parses and checks a TEI request body; failures are the container's 4xx, as TEI answers. */
export function parseTeiRequest(body: Uint8Array, maxBatch: number): TeiRequest {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    throw new EndpointFault('model', 'Failed to parse the request body as JSON', 400);
  }
  const parsed = teiRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EndpointFault(
      'model',
      `Input validation error: ${issue?.path.join('.') || '(body)'}: ${issue?.message}`,
      422,
    );
  }
  const count = Array.isArray(parsed.data.inputs) ? parsed.data.inputs.length : 1;
  if (count === 0 || count > maxBatch) {
    throw new EndpointFault(
      'model',
      `Input validation error: batch size ${count} must be between 1 and ${maxBatch}`,
      422,
    );
  }
  return parsed.data;
}

/**
 * One vector per input, in order. Inputs are embedded one after another (the embedding context
 * holds one sequence); an abort stops between inputs.
 */
export async function embed(
  model: LlamaModel,
  context: LlamaEmbeddingContext,
  request: TeiRequest,
  maxInputTokens: number,
  signal: AbortSignal,
): Promise<number[][]> {
  const inputs = Array.isArray(request.inputs) ? request.inputs : [request.inputs];
  const vectors: number[][] = [];
  for (const input of inputs) {
    if (signal.aborted) throw new EndpointFault('internal', 'The caller went away.');
    let tokens = model.tokenize(input);
    if (tokens.length === 0) {
      throw new EndpointFault('model', 'Input validation error: `inputs` cannot be empty', 422);
    }
    if (tokens.length > maxInputTokens) {
      if (!request.truncate) {
        throw new EndpointFault(
          'model',
          `Input validation error: \`inputs\` must have less than ${maxInputTokens} tokens. Given: ${tokens.length}`,
          413,
        );
      }
      tokens = tokens.slice(0, maxInputTokens);
    }
    const { vector } = await context.getEmbeddingFor(tokens);
    vectors.push(request.normalize ? normalized(vector) : [...vector]);
  }
  return vectors;
}

function normalized(vector: readonly number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm === 0 ? [...vector] : vector.map((x) => x / norm);
}

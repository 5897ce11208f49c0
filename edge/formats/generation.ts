/** What the routes ask of a generation model, independent of the container's wire schema. */
export interface GenerationRequest {
  prompt: string;
  maxTokens: number;
  temperature: number | undefined;
  topP: number | undefined;
  stop: string[];
  seed: number | undefined;
}

export type FinishReason = 'stop' | 'length';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  /** Present where the container reports token counts. */
  usage: Usage | undefined;
}

/** One piece of a streamed generation. The last one carries `finishReason`. */
export interface GenerationChunk {
  text: string;
  finishReason?: FinishReason;
  usage?: Usage;
}

/**
 * Whether two identical requests must produce identical outputs, which is what makes
 * sharing one upstream call between them safe.
 */
export const isDeterministic = (r: GenerationRequest): boolean => r.temperature === 0;

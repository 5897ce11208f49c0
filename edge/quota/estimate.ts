import type { GenerationRequest } from '../formats/generation.js';

/** Tokens a chat template adds around each message (role markers, separators). */
const TOKENS_PER_MESSAGE = 4;

/**
 * What a generation may cost before the container has said: prompt tokens estimated from the
 * characters of everything that becomes the prompt (messages with their JSON framing, tools,
 * or the completion prompts), plus `max_tokens` for every choice. Reservations take this much;
 * settlements correct it to what the container reported.
 *
 * @param charsPerToken the deployment's ratio (config `quotas.charsPerToken`); lower is safer
 */
export const estimateTokens = (request: GenerationRequest, charsPerToken: number): number => {
  let chars: number;
  let overhead = 0;
  if (request.kind === 'chat') {
    chars = JSON.stringify(request.body.messages).length;
    overhead = request.body.messages.length * TOKENS_PER_MESSAGE;
    if (request.body.tools) chars += JSON.stringify(request.body.tools).length;
  } else {
    const prompt = request.body.prompt;
    chars = typeof prompt === 'string' ? prompt.length : JSON.stringify(prompt).length;
  }
  return Math.ceil(chars / charsPerToken) + overhead + request.maxTokens * request.choices;
};

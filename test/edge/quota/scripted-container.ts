import { EndpointFault, type EndpointBackend } from '../../../local/endpoint/backend.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the scripted container has reported, summed over every answer it finished. */
export interface ReportedTotals {
  prompt: number;
  completion: number;
  answers: number;
}

/**
 * An OpenAI-schema container with fixed token counts: every answer reports `promptTokens`
 * prompt tokens and `min(max_tokens, completionTokens)` completion tokens, streamed one token
 * per event with the usage event last. It tallies what it reported, so tests can compare the
 * gateway's counters with the container's own numbers.
 */
export const scriptedContainer = (options: {
  promptTokens: number;
  completionTokens: number;
  /** Delay between streamed tokens. @default 0 */
  tokenDelayMs?: number;
}): { backend: EndpointBackend; reported: ReportedTotals } => {
  const reported: ReportedTotals = { prompt: 0, completion: 0, answers: 0 };
  const parse = (body: Uint8Array) => {
    const req = JSON.parse(decoder.decode(body)) as { max_tokens: number; messages?: unknown };
    if (!req.messages) throw new EndpointFault('model', 'not a chat request', 400);
    return Math.min(req.max_tokens, options.completionTokens);
  };
  const usage = (completion: number) => ({
    prompt_tokens: options.promptTokens,
    completion_tokens: completion,
    total_tokens: options.promptTokens + completion,
  });
  const tally = (completion: number) => {
    reported.prompt += options.promptTokens;
    reported.completion += completion;
    reported.answers += 1;
  };
  const backend: EndpointBackend = {
    async invoke(input) {
      const completion = parse(input.body);
      tally(completion);
      const body = {
        id: 'chatcmpl-scripted',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'word '.repeat(completion).trim() },
            finish_reason: 'length',
          },
        ],
        usage: usage(completion),
      };
      return { body: encoder.encode(JSON.stringify(body)) };
    },
    invokeStream(input) {
      const completion = parse(input.body);
      async function* events() {
        const event = (data: unknown) => encoder.encode(`data: ${JSON.stringify(data)}\n\n`);
        for (let i = 0; i < completion; i++) {
          if (options.tokenDelayMs) await new Promise((r) => setTimeout(r, options.tokenDelayMs));
          if (input.signal.aborted) return;
          yield event({
            object: 'chat.completion.chunk',
            choices: [
              {
                index: 0,
                delta: i === 0 ? { role: 'assistant', content: 'word' } : { content: ' word' },
                finish_reason: i === completion - 1 ? 'length' : null,
              },
            ],
          });
        }
        tally(completion);
        yield event({ object: 'chat.completion.chunk', choices: [], usage: usage(completion) });
        yield encoder.encode('data: [DONE]\n\n');
      }
      return Object.assign(events(), { contentType: 'text/event-stream' });
    },
  };
  return { backend, reported };
};

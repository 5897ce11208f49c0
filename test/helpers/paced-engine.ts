import type { EndpointBackend } from '../../local/endpoint/backend.js';

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A generation engine stand-in speaking the OpenAI chat schema that spends `tokenMs` per output
 * token (`max_tokens` of them), streamed or not: slot turnover is then a known time, which the
 * noisy-neighbour test and benchmark measure against.
 */
export const pacedEngine = (tokenMs: number): EndpointBackend => ({
  async invoke(input) {
    const body = JSON.parse(new TextDecoder().decode(input.body)) as { max_tokens: number };
    await sleep(body.max_tokens * tokenMs);
    const answer = {
      choices: [{ index: 0, message: { content: 'ok' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 3, completion_tokens: body.max_tokens },
    };
    return { body: encoder.encode(JSON.stringify(answer)) };
  },
  async *invokeStream(input) {
    const body = JSON.parse(new TextDecoder().decode(input.body)) as { max_tokens: number };
    for (let i = 0; i < body.max_tokens; i++) {
      await sleep(tokenMs);
      const finish = i === body.max_tokens - 1 ? 'length' : null;
      const chunk = { choices: [{ index: 0, delta: { content: 'w ' }, finish_reason: finish }] };
      yield encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    yield encoder.encode('data: [DONE]\n\n');
  },
});

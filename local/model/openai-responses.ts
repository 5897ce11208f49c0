import { randomUUID } from 'node:crypto';
import { EndpointFault } from '../endpoint/backend.js';
import type { TokenLogprob } from './decode.js';
import type { ChoiceEvent, OpenAiModel } from './openai.js';
import type { ChatRequest, CompletionRequest } from './openai-request.js';

/**
 * The OpenAI response bodies and vLLM's event streams (`data: {chunk}\n\n` … `data: [DONE]\n\n`)
 * for the choices {@link OpenAiModel} generates.
 */

type Choices = AsyncIterable<ChoiceEvent>;
type ChoiceSources = { promptTokens: number; choices: Array<() => Choices> };

interface Collected {
  text: string;
  call: { id: string; name: string; arguments: string } | undefined;
  logprobs: TokenLogprob[];
  reason: string;
  tokens: number;
}

const encoder = new TextEncoder();
const sse = (chunk: unknown) => encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`);
const DONE = encoder.encode('data: [DONE]\n\n');
const now = () => Math.floor(Date.now() / 1000);
const gone = () => new EndpointFault('internal', 'The caller went away.');

async function collect(events: Choices): Promise<Collected> {
  const out: Collected = { text: '', call: undefined, logprobs: [], reason: '', tokens: 0 };
  for await (const event of events) {
    if (event.type === 'text') out.text += event.text;
    else if (event.type === 'tool') out.call = { id: event.id, name: event.name, arguments: '' };
    else if (event.type === 'arguments' && out.call) out.call.arguments += event.text;
    else if (event.type === 'end') {
      out.reason = event.reason;
      out.tokens = event.tokens;
    }
    if (event.type === 'text' || event.type === 'arguments') out.logprobs.push(...event.logprobs);
  }
  if (out.reason === '') throw gone();
  return out;
}

const usage = (promptTokens: number, completionTokens: number) => ({
  prompt_tokens: promptTokens,
  completion_tokens: completionTokens,
  total_tokens: promptTokens + completionTokens,
});

/** The legacy completions `logprobs` object. */
function legacyLogprobs(logprobs: TokenLogprob[], offset: number) {
  const text_offset: number[] = [];
  for (const entry of logprobs) {
    text_offset.push(offset);
    offset += entry.token.length;
  }
  return {
    tokens: logprobs.map((e) => e.token),
    token_logprobs: logprobs.map((e) => e.logprob),
    top_logprobs: logprobs.map((e) =>
      Object.fromEntries(e.top_logprobs.map((alt) => [alt.token, alt.logprob])),
    ),
    text_offset,
  };
}

/** A `chat.completion` for `request`, its choices generated side by side. */
export async function chatCompletion(
  model: OpenAiModel,
  request: ChatRequest,
  signal: AbortSignal,
): Promise<unknown> {
  const { promptTokens, choices } = await model.chatChoices(request, signal);
  const results = await Promise.all(choices.map((choice) => collect(choice())));
  return {
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: now(),
    model: request.model ?? model.modelName,
    choices: results.map((r, index) => ({
      index,
      message: r.call
        ? {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: r.call.id,
                type: 'function',
                function: { name: r.call.name, arguments: r.call.arguments },
              },
            ],
          }
        : { role: 'assistant', content: r.text },
      logprobs: request.logprobs ? { content: r.logprobs } : null,
      finish_reason: r.reason,
    })),
    usage: usage(
      promptTokens,
      results.reduce((sum, r) => sum + r.tokens, 0),
    ),
  };
}

/** A `text_completion` for `request`. */
export async function textCompletion(
  model: OpenAiModel,
  request: CompletionRequest,
  signal: AbortSignal,
): Promise<unknown> {
  const { promptTokens, choices } = model.completionChoices(request, signal);
  const results = await Promise.all(choices.map((choice) => collect(choice())));
  return {
    id: `cmpl-${randomUUID()}`,
    object: 'text_completion',
    created: now(),
    model: request.model ?? model.modelName,
    choices: results.map((r, index) => ({
      index,
      text: r.text,
      logprobs: request.logprobs != null ? legacyLogprobs(r.logprobs, 0) : null,
      finish_reason: r.reason,
    })),
    usage: usage(
      promptTokens,
      results.reduce((sum, r) => sum + r.tokens, 0),
    ),
  };
}

/**
 * Streams choices one after another. Each choice's first event is awaited before anything of
 * it is sent, so a refusal (a full queue) before the first chunk is still an HTTP error.
 */
async function* streamChoices(
  sources: ChoiceSources,
  includeUsage: boolean,
  frame: {
    head(index: number): unknown;
    event(index: number, event: ChoiceEvent, logprobs: TokenLogprob[]): unknown;
    usage(value: ReturnType<typeof usage>): unknown;
  },
): AsyncGenerator<Uint8Array> {
  let completionTokens = 0;
  for (const [index, choice] of sources.choices.entries()) {
    const events = choice()[Symbol.asyncIterator]();
    let next = await events.next();
    const head = frame.head(index);
    if (head !== undefined) yield sse(head);
    let logprobs: TokenLogprob[] = [];
    let ended = false;
    for (; !next.done; next = await events.next()) {
      const event = next.value;
      if (event.type === 'text' || event.type === 'arguments') {
        // A token whose text is held back sends its logprob with the next text that leaves.
        logprobs.push(...event.logprobs);
        if (event.text === '') continue;
      }
      if (event.type === 'end') {
        completionTokens += event.tokens;
        ended = true;
      }
      yield sse(frame.event(index, event, logprobs));
      logprobs = [];
    }
    if (!ended) throw gone();
  }
  if (includeUsage) yield sse(frame.usage(usage(sources.promptTokens, completionTokens)));
  yield DONE;
}

/** `chat.completion.chunk` events for `request`, as vLLM streams them. */
export async function* chatCompletionChunks(
  model: OpenAiModel,
  request: ChatRequest,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const sources = await model.chatChoices(request, signal);
  const base = {
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion.chunk',
    created: now(),
    model: request.model ?? model.modelName,
  };
  const chunk = (index: number, delta: unknown, logprobs: TokenLogprob[], finish: unknown) => ({
    ...base,
    choices: [
      {
        index,
        delta,
        logprobs: request.logprobs && logprobs.length > 0 ? { content: logprobs } : null,
        finish_reason: finish,
      },
    ],
  });
  yield* streamChoices(sources, request.stream_options?.include_usage === true, {
    head: (index) => chunk(index, { role: 'assistant', content: '' }, [], null),
    event(index, event, logprobs) {
      switch (event.type) {
        case 'text':
          return chunk(index, { content: event.text }, logprobs, null);
        case 'tool':
          return chunk(
            index,
            {
              tool_calls: [
                {
                  index: 0,
                  id: event.id,
                  type: 'function',
                  function: { name: event.name, arguments: '' },
                },
              ],
            },
            logprobs,
            null,
          );
        case 'arguments':
          return chunk(
            index,
            { tool_calls: [{ index: 0, function: { arguments: event.text } }] },
            logprobs,
            null,
          );
        case 'end':
          return chunk(index, {}, logprobs, event.reason);
      }
    },
    usage: (value) => ({ ...base, choices: [], usage: value }),
  });
}

/** `text_completion` events for `request`, as vLLM streams them. */
export async function* textCompletionChunks(
  model: OpenAiModel,
  request: CompletionRequest,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const sources = model.completionChoices(request, signal);
  const base = {
    id: `cmpl-${randomUUID()}`,
    object: 'text_completion',
    created: now(),
    model: request.model ?? model.modelName,
  };
  const offsets = new Map<number, number>();
  yield* streamChoices(sources, request.stream_options?.include_usage === true, {
    head: () => undefined,
    event(index, event, logprobs) {
      const text = event.type === 'text' ? event.text : '';
      const offset = offsets.get(index) ?? 0;
      offsets.set(index, offset + text.length);
      return {
        ...base,
        choices: [
          {
            index,
            text,
            logprobs:
              request.logprobs != null && logprobs.length > 0
                ? legacyLogprobs(logprobs, offset)
                : null,
            finish_reason: event.type === 'end' ? event.reason : null,
          },
        ],
      };
    },
    usage: (value) => ({ ...base, choices: [], usage: value }),
  });
}

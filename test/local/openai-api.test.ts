import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLocalBackends, type LocalBackends } from '../../local/model/local-backends.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';

/**
 * The OpenAI chat API end to end on the default local stack (`local/config.json`, format
 * `openai`): the official client → gateway → real AWS SDK → local endpoint speaking the OpenAI
 * schema on `/invocations` → the CPU model, grammar-constrained where the request asks for
 * structure. The stand-in model's weights are random, so every assertion is about structure.
 */
let stack: LocalStack;
let local: LocalBackends;
let client: OpenAI;

beforeAll(async () => {
  local = await createLocalBackends({ threads: 1 });
  stack = await startLocalStack({
    port: 0,
    auth: 'disabled',
    issuerStateFile: null,
    records: () => {},
    backends: local,
  });
  client = new OpenAI({ baseURL: `${stack.gatewayUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await local?.close();
});

const weather: z.core.JSONSchema.JSONSchema = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
  },
  required: ['city', 'days', 'unit'],
  additionalProperties: false,
};

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'get_weather', description: 'Forecast for a city', parameters: weather },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      parameters: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] },
    },
  },
];

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Weather in Paris for three days?' },
];

/** Rebuilds tool calls from stream deltas as an OpenAI client does. */
const assembleToolCalls = (chunks: ChatCompletionChunk[]) => {
  const calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> =
    [];
  for (const chunk of chunks) {
    for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
      const call = (calls[d.index] ??= {
        id: '',
        type: 'function',
        function: { name: '', arguments: '' },
      });
      if (d.id) call.id = d.id;
      if (d.function?.name) call.function.name += d.function.name;
      if (d.function?.arguments) call.function.arguments += d.function.arguments;
    }
  }
  return calls;
};

const collect = async <T>(stream: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
};

describe('the OpenAI chat API on the local stack', () => {
  it('calls the named tool with arguments that validate against its parameters', async () => {
    const res = await client.chat.completions.create({
      model: 'sluice-tiny-chat',
      messages,
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      max_tokens: 200,
      temperature: 0,
    });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const calls = choice.message.tool_calls!;
    expect(calls).toHaveLength(1);
    const call = calls[0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/.+/);
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments);
    expect(z.fromJSONSchema(weather).safeParse(args).success).toBe(true);
    expect(res.model).toBe('sluice-tiny-chat');
  });

  it('streams the same tool call as deltas that assemble to the same structure', async () => {
    const request = {
      model: 'sluice-tiny-chat',
      messages,
      tools,
      tool_choice: { type: 'function' as const, function: { name: 'get_weather' } },
      max_tokens: 200,
      temperature: 0,
    };
    const whole = await client.chat.completions.create(request);
    const chunks = await collect(
      await client.chat.completions.create({ ...request, stream: true }),
    );
    const streamed = assembleToolCalls(chunks);
    const expected = whole.choices[0]!.message.tool_calls!.map((c) => {
      const fn = (c as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function;
      return { name: fn.name, args: JSON.parse(fn.arguments) };
    });
    expect(
      streamed.map((c) => ({ name: c.function.name, args: JSON.parse(c.function.arguments) })),
    ).toEqual(expected);
    expect(streamed[0]!.id).toMatch(/.+/);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
    // The first delta names the role; tool-call fragments arrive in more than one delta.
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.filter((c) => c.choices[0]?.delta.tool_calls).length).toBeGreaterThan(1);
  });

  it('returns JSON that validates against a strict json_schema, streamed and not', async () => {
    const schema: z.core.JSONSchema.JSONSchema = {
      type: 'object',
      properties: {
        answer: { type: 'string' },
        confidence: { type: 'number' },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['answer', 'confidence', 'tags'],
      additionalProperties: false,
    };
    const request = {
      model: 'sluice-tiny-chat',
      messages,
      response_format: {
        type: 'json_schema' as const,
        json_schema: { name: 'reply', strict: true, schema },
      },
      max_tokens: 300,
      temperature: 0,
    };
    const validator = z.fromJSONSchema(schema);
    const whole = await client.chat.completions.create(request);
    expect(whole.choices[0]!.finish_reason).toBe('stop');
    expect(validator.safeParse(JSON.parse(whole.choices[0]!.message.content!)).success).toBe(true);

    const chunks = await collect(
      await client.chat.completions.create({ ...request, stream: true }),
    );
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(validator.safeParse(JSON.parse(text)).success).toBe(true);
  });

  it('returns two choices for n: 2, and token logprobs with two alternatives each', async () => {
    const res = await client.chat.completions.create({
      model: 'sluice-tiny-chat',
      messages,
      n: 2,
      logprobs: true,
      top_logprobs: 2,
      max_tokens: 6,
      temperature: 1,
      seed: 7,
    });
    expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const choice of res.choices) {
      const tokens = choice.logprobs!.content!;
      expect(tokens.length).toBeGreaterThan(0);
      for (const t of tokens) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.top_logprobs).toHaveLength(2);
      }
    }
  });

  it('separates reasoning_content from content for a think-tags model, in a stream too', async () => {
    const request = {
      model: 'sluice-tiny-reasoner',
      messages: [{ role: 'user' as const, content: 'Why is the sky blue?' }],
      max_tokens: 60,
      temperature: 0,
    };
    const whole = await client.chat.completions.create(request);
    const message = whole.choices[0]!.message as { content: string; reasoning_content?: string };
    expect(message.reasoning_content?.length).toBeGreaterThan(0);
    expect(message.content).not.toContain('<think>');
    expect(message.content).not.toContain('</think>');

    const chunks = await collect(
      await client.chat.completions.create({ ...request, stream: true }),
    );
    const deltas = chunks.map(
      (c) => c.choices[0]?.delta as { content?: string; reasoning_content?: string },
    );
    const reasoning = deltas.map((d) => d?.reasoning_content ?? '').join('');
    const content = deltas.map((d) => d?.content ?? '').join('');
    expect(reasoning).toBe(message.reasoning_content);
    expect(content).toBe(message.content);
  });

  it('refuses a parameter it does not know with a 400 that names it', async () => {
    const err = await client.chat.completions
      .create({
        model: 'sluice-tiny-chat',
        messages,
        audio: { voice: 'alloy', format: 'mp3' },
      } as never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('audio');
  });
});

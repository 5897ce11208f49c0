import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { createLocalBackends, type LocalBackends } from '../../../local/model/local-backends.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}
interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}
interface ChatCompletion {
  id: string;
  object: string;
  model: string;
  choices: Array<{
    index: number;
    message: { role: string; content: string | null; tool_calls?: ToolCall[] };
    logprobs: { content: Array<TopLogprob & { top_logprobs: TopLogprob[] }> } | null;
    finish_reason: string;
  }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
interface ChatChunk {
  object: string;
  choices: Array<{
    index: number;
    delta: {
      role?: string;
      content?: string;
      tool_calls?: Array<{
        index: number;
        id?: string;
        type?: string;
        function: { name?: string; arguments: string };
      }>;
    };
    finish_reason: string | null;
  }>;
  usage?: ChatCompletion['usage'];
}

const messages = [
  { role: 'system', content: 'You answer briefly.' },
  { role: 'user', content: 'What is the weather in Paris?' },
];

const weatherParameters: z.core.JSONSchema.JSONSchema = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer' },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const tools = [
  {
    type: 'function',
    function: { name: 'get_weather', description: 'Forecast', parameters: weatherParameters },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      parameters: { type: 'object', properties: { zone: { type: 'string' } } },
    },
  },
];

describe('the OpenAI schema on the local endpoint', () => {
  let dir: string;
  let local: LocalBackends;
  let endpoint: LocalEndpoint;
  let runtime: SageMakerRuntimeClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-openai-'));
    local = await createLocalBackends({ modelDir: dir, env: {}, threads: 1, sequences: 2 });
    endpoint = await startLocalEndpoint({ port: 0, backends: local.backends });
    runtime = new SageMakerRuntimeClient({
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    runtime?.destroy();
    await endpoint?.close();
    await local?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const invoke = async <T = ChatCompletion>(
    body: unknown,
    endpointName = 'sluice-chat',
  ): Promise<T> => {
    const out = await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: endpointName,
        ContentType: 'application/json',
        Body: encoder.encode(JSON.stringify(body)),
      }),
    );
    return JSON.parse(decoder.decode(out.Body)) as T;
  };

  /** The `data:` payloads of the stream, `[DONE]` included, with the raw text. */
  const stream = async (body: unknown, inferenceComponent?: string) => {
    const out = await runtime.send(
      new InvokeEndpointWithResponseStreamCommand({
        EndpointName: 'sluice-chat',
        ContentType: 'application/json',
        Body: encoder.encode(JSON.stringify(body)),
        ...(inferenceComponent && { InferenceComponentName: inferenceComponent }),
      }),
    );
    let raw = '';
    for await (const event of out.Body ?? []) raw += decoder.decode(event.PayloadPart?.Bytes);
    const events = raw.split('\n\n').filter((e) => e !== '');
    return { raw, events, contentType: out.ContentType };
  };
  const chunks = (events: string[]) =>
    events.filter((e) => e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)) as ChatChunk);

  it('answers a chat completion greedily and deterministically at temperature 0', async () => {
    const request = { messages, max_tokens: 8, temperature: 0 };
    const first = await invoke(request);
    const second = await invoke({ ...request, max_completion_tokens: 8, max_tokens: undefined });

    expect(first).toMatchObject({ object: 'chat.completion', model: 'sluice-chat' });
    expect(first.id).toMatch(/^chatcmpl-/);
    const [choice] = first.choices;
    expect(choice).toMatchObject({ index: 0, finish_reason: 'length', logprobs: null });
    expect(choice?.message.role).toBe('assistant');
    expect(choice?.message.content?.trim().length).toBeGreaterThan(0);
    expect(second.choices[0]?.message.content).toBe(choice?.message.content);
    expect(first.usage.completion_tokens).toBe(8);
    expect(first.usage.total_tokens).toBe(first.usage.prompt_tokens + 8);
  });

  it('gives n choices, repeatable for a seed, with their tokens summed in usage', async () => {
    const request = { messages, max_tokens: 6, temperature: 1, seed: 7, n: 2 };
    const a = await invoke(request);
    const b = await invoke(request);
    expect(a.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(b.choices.map((c) => c.message.content)).toEqual(
      a.choices.map((c) => c.message.content),
    );
    expect(a.usage.completion_tokens).toBe(12);
  });

  it('reports logprobs with the asked number of alternatives per token', async () => {
    const response = await invoke({
      messages,
      max_tokens: 5,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const [choice] = response.choices;
    const content = choice?.logprobs?.content ?? [];
    expect(content).toHaveLength(5);
    expect(content.map((c) => c.token).join('')).toBe(choice?.message.content);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.bytes).toEqual([...encoder.encode(entry.token)]);
      expect(entry.top_logprobs).toHaveLength(2);
      // Greedy: the chosen token is the most likely one.
      expect(entry.top_logprobs[0]).toMatchObject({ token: entry.token, logprob: entry.logprob });
      expect(entry.top_logprobs[1]?.logprob).toBeLessThanOrEqual(entry.logprob);
    }
  });

  it('cuts the text before a stop string and says it stopped', async () => {
    const full = await invoke({ messages, max_tokens: 8, temperature: 0 });
    const text = full.choices[0]?.message.content ?? '';
    const stop = text.trim().split(/\s+/)[2] ?? '';
    const stopped = await invoke({ messages, max_tokens: 8, temperature: 0, stop: [stop] });
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.choices[0]?.message.content).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('writes JSON that validates against a json_schema response format', async () => {
    const schema: z.core.JSONSchema.JSONSchema = {
      type: 'object',
      properties: {
        city: { type: 'string' },
        days: { type: 'integer' },
        unit: { enum: ['c', 'f'] },
        tags: { type: 'array', items: { type: 'string' } },
        note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
      },
      required: ['city', 'days', 'unit', 'tags', 'note'],
      additionalProperties: false,
    };
    const validator = z.fromJSONSchema(schema);
    const response = await invoke({
      messages,
      max_tokens: 200,
      temperature: 0.9,
      seed: 3,
      n: 2,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'forecast', schema, strict: true },
      },
    });
    for (const choice of response.choices) {
      expect(choice.finish_reason).toBe('stop');
      const parsed: unknown = JSON.parse(choice.message.content ?? '');
      expect(
        validator.safeParse(parsed).error?.issues,
        choice.message.content ?? '',
      ).toBeUndefined();
    }
  });

  it('writes a JSON object for json_object', async () => {
    const response = await invoke({
      messages,
      max_tokens: 150,
      temperature: 1,
      seed: 11,
      response_format: { type: 'json_object' },
    });
    const parsed: unknown = JSON.parse(response.choices[0]?.message.content ?? '');
    expect(parsed).toBeTypeOf('object');
    expect(Array.isArray(parsed)).toBe(false);
  });

  it('calls the named tool with arguments that validate against its parameters', async () => {
    const response = await invoke({
      messages,
      max_tokens: 150,
      temperature: 0,
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const [choice] = response.choices;
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const [call] = choice?.message.tool_calls ?? [];
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(call?.id).toMatch(/^call_/);
    const args: unknown = JSON.parse(call?.function.arguments ?? '');
    expect(z.fromJSONSchema(weatherParameters).safeParse(args).success).toBe(true);
  });

  it('calls one of the tools when a call is required', async () => {
    const response = await invoke({
      messages,
      max_tokens: 150,
      temperature: 0,
      tools,
      tool_choice: 'required',
    });
    const [call] = response.choices[0]?.message.tool_calls ?? [];
    expect(['get_weather', 'get_time']).toContain(call?.function.name);
    expect(JSON.parse(call?.function.arguments ?? '')).toBeTypeOf('object');
    expect(response.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('answers text when tool_choice is none', async () => {
    const response = await invoke({
      messages,
      max_tokens: 4,
      temperature: 0,
      tools,
      tool_choice: 'none',
    });
    expect(response.choices[0]?.message.tool_calls).toBeUndefined();
    expect(response.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });

  it('streams content as vLLM does: role first, deltas, finish, usage, [DONE]', async () => {
    const request = { messages, max_tokens: 6, temperature: 0 };
    const whole = await invoke(request);
    const { events, contentType } = await stream({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });

    expect(contentType).toBe('text/event-stream');
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
    const parsed = chunks(events);
    expect(parsed.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(parsed[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    const usage = parsed.at(-1);
    expect(usage?.choices).toEqual([]);
    expect(usage?.usage).toEqual(whole.usage);
    const finals = parsed.filter((c) => c.choices[0]?.finish_reason);
    expect(finals).toHaveLength(1);
    expect(finals[0]?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    const text = parsed.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]?.message.content);
  });

  it('streams a tool call as deltas that reassemble to the whole response', async () => {
    const request = {
      messages,
      max_tokens: 150,
      temperature: 0,
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    };
    const whole = await invoke(request);
    const { events } = await stream(request, 'ic-weather');
    const parsed = chunks(events);

    const deltas = parsed.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    const [opening, ...fragments] = deltas;
    expect(opening).toMatchObject({
      index: 0,
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    expect(opening?.id).toMatch(/^call_/);
    expect(fragments.length).toBeGreaterThan(1);
    expect(
      fragments.every((f) => f.index === 0 && f.id === undefined && f.function.name === undefined),
    ).toBe(true);
    const reassembled = {
      name: opening?.function.name,
      arguments: fragments.map((f) => f.function.arguments).join(''),
    };
    expect(reassembled).toEqual(whole.choices[0]?.message.tool_calls?.[0]?.function);
    expect(parsed.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(events.filter((e) => e === 'data: [DONE]')).toHaveLength(1);
    // Without include_usage there is no usage chunk.
    expect(parsed.some((c) => c.usage !== undefined)).toBe(false);
    expect(endpoint.invocations.at(-1)).toEqual({
      endpoint: 'sluice-chat',
      variant: undefined,
      inferenceComponent: 'ic-weather',
    });
  });

  it('answers as a reasoner with <think>…</think> before the answer in content', async () => {
    const response = await invoke(
      { messages, max_tokens: 60, temperature: 0.7, seed: 5 },
      'sluice-reasoner',
    );
    const content = response.choices[0]?.message.content ?? '';
    expect(response.model).toBe('sluice-reasoner');
    expect(content).toMatch(/^<think>\n.+\n<\/think>\n\n.+$/s);
    expect(response.choices[0]?.finish_reason).toBe('stop');
    expect(response.usage.completion_tokens).toBeLessThanOrEqual(60);
  });

  it('answers a text completion for a prompt, whole and streamed', async () => {
    const request = { prompt: 'The river', max_tokens: 5, temperature: 0, logprobs: 2 };
    const whole = await invoke<{
      object: string;
      choices: Array<{
        text: string;
        finish_reason: string;
        logprobs: { tokens: string[]; top_logprobs: object[] };
      }>;
    }>(request);
    expect(whole.object).toBe('text_completion');
    const [choice] = whole.choices;
    expect(choice?.finish_reason).toBe('length');
    expect(choice?.logprobs.tokens.join('')).toBe(choice?.text);
    expect(choice?.logprobs.top_logprobs.every((alts) => Object.keys(alts).length === 2)).toBe(
      true,
    );

    const { events } = await stream(request);
    const parsed = events
      .filter((e) => e !== 'data: [DONE]')
      .map((e) => JSON.parse(e.slice(6)) as { object: string; choices: Array<{ text: string }> });
    expect(parsed.every((c) => c.object === 'text_completion')).toBe(true);
    expect(parsed.map((c) => c.choices[0]?.text ?? '').join('')).toBe(choice?.text);
  });

  it.each([
    ['a body of no known shape', { question: 'hi' }],
    [
      'a tool_choice naming no tool',
      { messages, tools, tool_choice: { type: 'function', function: { name: 'nope' } } },
    ],
    ['top_logprobs without logprobs', { messages, top_logprobs: 2 }],
    ['more tokens than the context holds', { messages, max_tokens: 5000 }],
    ['n above 8', { messages, n: 9 }],
  ])('refuses %s with a 400 from the container', async (_, body) => {
    const error = await invoke(body).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ModelError', OriginalStatusCode: 400 });
  });

  it('still serves the TGI schema on the same endpoint', async () => {
    const [out] = await invoke<Array<{ generated_text: string }>>({
      inputs: 'The river',
      parameters: { max_new_tokens: 3 },
    });
    expect(out?.generated_text.length).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import type { InvokeOptions, ModelInvoker } from '../../../edge/invoke/invoker.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';

/** A container speaking the OpenAI schema: answers and streams what each test scripts. */
class OpenAIContainer implements ModelInvoker {
  readonly calls: InvokeOptions[] = [];
  answer: (body: Record<string, unknown>) => unknown = (body) => ({
    id: 'upstream',
    model: 'served',
    choices: Array.from({ length: Number(body.n ?? 1) }, (_, index) => ({
      index,
      message: { role: 'assistant', content: `answer ${index}` },
      finish_reason: 'stop',
    })),
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });
  events: unknown[] = [];

  async invoke(o: InvokeOptions): Promise<unknown> {
    this.calls.push(o);
    return this.answer(o.body as Record<string, unknown>);
  }
  async *invokeStream(o: InvokeOptions): AsyncIterable<unknown> {
    this.calls.push(o);
    yield* this.events;
  }
  async checkReady(): Promise<void> {}
}

const setup = () => {
  const container = new OpenAIContainer();
  const config = parseGatewayConfig({
    models: [
      {
        id: 'gen',
        kind: 'chat',
        policy: 'admit',
        upstreamModel: 'served',
        endpoint: 'shared-ep',
        inferenceComponent: 'gen-ic',
        limits: { maxChoices: 2 },
      },
      {
        id: 'narrow',
        kind: 'chat',
        policy: 'admit',
        endpoint: 'ep',
        parameters: ['temperature', 'seed'],
      },
      { id: 'vision', kind: 'chat', policy: 'admit', endpoint: 'ep', images: true },
      { id: 'thinker', kind: 'chat', policy: 'admit', endpoint: 'ep', reasoning: 'think-tags' },
      { id: 'legacy', kind: 'chat', policy: 'admit', format: 'tgi', endpoint: 'ep' },
    ],
  });
  const { app } = createApp({ config, invoker: container, auth: { mode: 'disabled' } });
  const post = (body: unknown) =>
    app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  return { container, post };
};

const messages = [{ role: 'user', content: 'hi' }];
const tools = [
  {
    type: 'function',
    function: {
      name: 'lookup',
      parameters: { type: 'object', properties: { q: { type: 'string' } } },
    },
  },
];

const errorOf = async (res: Response) => {
  const body = (await res.json()) as { error: { param: string | null; code: string } };
  return { status: res.status, param: body.error.param, code: body.error.code };
};

const sseEvents = (text: string): string[] =>
  text
    .split('\n\n')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => e.replace(/^data: /, ''));

describe('format openai', () => {
  it('forwards every parameter it allows, unchanged, to the named inference component', async () => {
    const { post, container } = setup();
    const request = {
      model: 'gen',
      messages,
      tools,
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'out', strict: true, schema: { type: 'object' } },
      },
      logprobs: true,
      top_logprobs: 2,
      n: 2,
      seed: 9,
      stop: ['\n\n'],
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { '50256': -100 },
      reasoning_effort: 'low',
      user: 'end-user-7',
      max_completion_tokens: 40,
    };
    const res = await post(request);
    expect(res.status).toBe(200);
    const { model: _m, max_completion_tokens: _t, ...rest } = request;
    expect(container.calls[0]!.body).toEqual({ ...rest, model: 'served', max_tokens: 40 });
    expect(container.calls[0]!.target).toMatchObject({
      endpoint: 'shared-ep',
      inferenceComponent: 'gen-ic',
    });
    const body = await res.json();
    expect(body.choices.map((c: { message: { content: string } }) => c.message.content)).toEqual([
      'answer 0',
      'answer 1',
    ]);
  });

  it('normalises the answer: its own id and public model, tool calls, reasoning, usage details', async () => {
    const { post, container } = setup();
    container.answer = () => ({
      id: 'upstream-id',
      object: 'chat.completion',
      model: '/opt/ml/model',
      created: 1,
      prompt_logprobs: null,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            reasoning_content: 'think',
            tool_calls: [
              {
                id: 'call_a',
                type: 'function',
                function: { name: 'lookup', arguments: '{"q":"x"}' },
              },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
          stop_reason: null,
        },
      ],
      usage: {
        prompt_tokens: 10,
        completion_tokens: 6,
        total_tokens: 16,
        completion_tokens_details: { reasoning_tokens: 4 },
      },
    });
    const body = await (await post({ model: 'gen', messages, tools })).json();
    expect(body.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(body.model).toBe('gen');
    expect(body).not.toHaveProperty('prompt_logprobs');
    expect(body.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        reasoning_content: 'think',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
        ],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    });
    expect(body.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 6,
      total_tokens: 16,
      completion_tokens_details: { reasoning_tokens: 4 },
    });
  });

  it('refuses, by name, a parameter the model does not allow, and lets neutral values pass', async () => {
    const { post, container } = setup();
    expect(await errorOf(await post({ model: 'narrow', messages, tools }))).toEqual({
      status: 400,
      param: 'tools',
      code: 'unsupported_parameter',
    });
    expect(await errorOf(await post({ model: 'narrow', messages, top_p: 0.5 }))).toMatchObject({
      param: 'top_p',
    });
    const ok = await post({ model: 'narrow', messages, n: 1, logprobs: false, temperature: 0 });
    expect(ok.status).toBe(200);
    expect(container.calls).toHaveLength(1);
  });

  it('refuses a field nobody knows, at the top and inside a message', async () => {
    const { post, container } = setup();
    expect(await errorOf(await post({ model: 'gen', messages, modalities: ['audio'] }))).toEqual({
      status: 400,
      param: 'modalities',
      code: 'unsupported_parameter',
    });
    expect(
      await errorOf(
        await post({ model: 'gen', messages: [{ role: 'user', content: 'x', mood: 1 }] }),
      ),
    ).toMatchObject({ status: 400, param: 'messages.0.mood' });
    expect(container.calls).toHaveLength(0);
  });

  it('caps n per model and checks that tool_choice names a declared tool', async () => {
    const { post } = setup();
    expect(await errorOf(await post({ model: 'gen', messages, n: 3 }))).toEqual({
      status: 400,
      param: 'n',
      code: 'too_many_choices',
    });
    const unknown = { type: 'function', function: { name: 'missing' } };
    expect(
      await errorOf(await post({ model: 'gen', messages, tools, tool_choice: unknown })),
    ).toMatchObject({
      status: 400,
      param: 'tool_choice.function.name',
    });
  });

  it('takes images only for models whose entry says so', async () => {
    const { post, container } = setup();
    const content = [
      { type: 'text', text: 'what is this?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
    ];
    expect(
      await errorOf(await post({ model: 'gen', messages: [{ role: 'user', content }] })),
    ).toEqual({ status: 400, param: 'messages.0.content.1', code: 'images_not_supported' });
    const res = await post({ model: 'vision', messages: [{ role: 'user', content }] });
    expect(res.status).toBe(200);
    expect((container.calls[0]!.body as { messages: unknown }).messages).toEqual([
      { role: 'user', content },
    ]);
  });

  it('fails an answer with a different number of choices than asked for', async () => {
    const { post, container } = setup();
    container.answer = () => ({
      choices: [{ index: 0, message: { content: 'one' }, finish_reason: 'stop' }],
    });
    expect(await errorOf(await post({ model: 'gen', messages, n: 2 }))).toMatchObject({
      status: 502,
      code: 'choice_count_mismatch',
    });
  });

  it('splits think tags out of content for a think-tags model', async () => {
    const { post, container } = setup();
    container.answer = () => ({
      choices: [
        { index: 0, message: { content: '<think>step 1</think>\n\nDone.' }, finish_reason: 'stop' },
      ],
    });
    const body = await (await post({ model: 'thinker', messages })).json();
    expect(body.choices[0].message).toMatchObject({
      content: 'Done.',
      reasoning_content: 'step 1',
    });
  });
});

describe('format openai streams', () => {
  it('passes reasoning and tool-call deltas through in order, usage last, then [DONE]', async () => {
    const { post, container } = setup();
    const open = {
      index: 0,
      id: 'call_1',
      type: 'function',
      function: { name: 'lookup', arguments: '' },
    };
    const frag = (arguments_: string) => ({ index: 0, function: { arguments: arguments_ } });
    container.events = [
      { choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] },
      { choices: [{ index: 0, delta: { reasoning_content: 'need data' } }] },
      { choices: [{ index: 0, delta: { tool_calls: [open] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [frag('{"q":')] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [frag('"x"}')] } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      { choices: [], usage: { prompt_tokens: 4, completion_tokens: 9, total_tokens: 13 } },
    ];
    const res = await post({
      model: 'gen',
      messages,
      tools,
      stream: true,
      stream_options: { include_usage: true },
    });
    const events = sseEvents(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant' },
      { reasoning_content: 'need data' },
      { tool_calls: [open] },
      { tool_calls: [frag('{"q":')] },
      { tool_calls: [frag('"x"}')] },
      {},
      null,
    ]);
    expect(chunks.at(-2).choices[0].finish_reason).toBe('tool_calls');
    expect(chunks.at(-1).usage).toEqual({
      prompt_tokens: 4,
      completion_tokens: 9,
      total_tokens: 13,
    });
    expect(chunks.every((c) => c.model === 'gen' && c.id === chunks[0].id)).toBe(true);
    expect(container.calls[0]!.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('splits think tags cut across chunks in a stream', async () => {
    const { post, container } = setup();
    const piece = (content: string, finish_reason: string | null = null) => ({
      choices: [{ index: 0, delta: { content }, finish_reason }],
    });
    container.events = [
      piece('<thi'),
      piece('nk>plan'),
      piece(' more</th'),
      piece('ink>\nAnswer', 'stop'),
    ];
    const events = sseEvents(
      await (await post({ model: 'thinker', messages, stream: true })).text(),
    );
    const deltas = events.slice(0, -1).map((e) => JSON.parse(e).choices[0].delta);
    expect(deltas.map((d) => d.reasoning_content ?? '').join('')).toBe('plan more');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('Answer');
  });

  it('ends a stream the container cut before it finished with an error event and no [DONE]', async () => {
    const { post, container } = setup();
    container.events = [{ choices: [{ index: 0, delta: { content: 'partial' } }] }];
    const events = sseEvents(await (await post({ model: 'gen', messages, stream: true })).text());
    expect(events).not.toContain('[DONE]');
    expect(JSON.parse(events.at(-1)!).error.code).toBe('incomplete_stream');
  });
});

describe('format tgi', () => {
  it('refuses what the TGI schema cannot carry, naming it', async () => {
    const { post, container } = setup();
    for (const [extra, param] of [
      [{ response_format: { type: 'json_object' } }, 'response_format'],
      [{ tools }, 'tools'],
      [{ n: 2 }, 'n'],
      [{ logprobs: true }, 'logprobs'],
      [{ presence_penalty: 1 }, 'presence_penalty'],
    ] as const) {
      expect(await errorOf(await post({ model: 'legacy', messages, ...extra }))).toEqual({
        status: 400,
        param,
        code: 'unsupported_parameter',
      });
    }
    expect(container.calls).toHaveLength(0);
  });
});

import { describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import type { InvokeOptions, InvokeTarget, ModelInvoker } from '../../../edge/invoke/invoker.js';
import { mapUpstreamError } from '../../../edge/invoke/map-error.js';
import { ModelRegistry } from '../../../edge/models/registry.js';
import { createJsonLogger } from '../../../edge/types.js';
import { RateLimitError, UpstreamError } from '../../../shared/errors.js';
import { testConfig } from '../../helpers/catalogue.js';

/** An in-process container: echoes what it was asked, so each test can see the translation. */
class EchoInvoker implements ModelInvoker {
  readonly calls: InvokeOptions[] = [];
  streamEvents: (opts: InvokeOptions) => AsyncIterable<unknown> = async function* (opts) {
    const words = String((opts.body as { inputs: string }).inputs)
      .split(' ')
      .slice(0, 3);
    for (const w of words) yield { token: { id: 1, text: w + ' ', special: false } };
    yield {
      token: { id: 2, text: '', special: true },
      generated_text: words.join(' '),
      details: { finish_reason: 'length', generated_tokens: words.length, prompt_tokens: 7 },
    };
  };
  failWith: unknown = undefined;

  async invoke(opts: InvokeOptions): Promise<unknown> {
    this.calls.push(opts);
    if (this.failWith) throw this.failWith;
    const body = opts.body as { inputs: unknown };
    if (Array.isArray(body.inputs)) return body.inputs.map((s: string) => [s.length, 0, 0, 1]);
    return [
      {
        generated_text: `echo:${String(body.inputs).slice(-20)}`,
        details: { finish_reason: 'eos_token', generated_tokens: 3, prompt_tokens: 11 },
      },
    ];
  }
  invokeStream(opts: InvokeOptions): AsyncIterable<unknown> {
    this.calls.push(opts);
    if (this.failWith) {
      const err = this.failWith;
      return (async function* () {
        throw err;
      })();
    }
    return this.streamEvents(opts);
  }
  async checkReady(target: InvokeTarget): Promise<void> {
    if (target.endpoint === 'embed-ep' && this.failWith) throw new Error('down');
  }
}

const setup = () => {
  const invoker = new EchoInvoker();
  const { app, registry } = createApp({
    config: testConfig({ maxBodyBytes: 4096 }),
    invoker,
    auth: { mode: 'disabled' },
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return { app, invoker, registry, post };
};

const chat = { model: 'chat-model', messages: [{ role: 'user', content: 'hello there world' }] };

const sseEvents = (text: string): string[] =>
  text
    .split('\n\n')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => e.replace(/^data: /, ''));

describe('OpenAI routes', () => {
  it('lists the catalogue at /v1/models', async () => {
    const { app } = setup();
    const res = await app.request('/v1/models');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.object).toBe('list');
    expect(body.data.map((m: { id: string }) => m.id)).toEqual([
      'chat-model',
      'text-model',
      'embed-model',
    ]);
  });

  it('answers a chat completion with the container text, finish reason and usage', async () => {
    const { post, invoker } = setup();
    const res = await post('/v1/chat/completions', { ...chat, max_tokens: 20, temperature: 0 });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0].message).toMatchObject({ role: 'assistant' });
    expect(body.choices[0].message.content).toMatch(/^echo:.*assistant\n$/s);
    expect(body.choices[0].finish_reason).toBe('stop');
    expect(body.usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
    const sent = invoker.calls[0]!.body as { inputs: string; parameters: Record<string, unknown> };
    expect(sent.inputs).toContain('<|im_start|>user\nhello there world<|im_end|>');
    expect(sent.parameters).toMatchObject({ max_new_tokens: 20, do_sample: false });
    expect(sent.parameters).not.toHaveProperty('temperature');
    expect(invoker.calls[0]!.target).toEqual({
      id: 'default',
      endpoint: 'chat-ep',
      variant: undefined,
      weight: 100,
    });
  });

  it('streams a chat completion as SSE chunks ending in [DONE], with usage when asked', async () => {
    const { post } = setup();
    const res = await post('/v1/chat/completions', {
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = sseEvents(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toContain('<|im_start|>user');
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish.choices[0].finish_reason).toBe('length');
    const usage = chunks.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('omits usage chunks when include_usage is not set', async () => {
    const { post } = setup();
    const events = sseEvents(
      await (await post('/v1/chat/completions', { ...chat, stream: true })).text(),
    );
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
  });

  it('ends a stream that breaks after it started with an error event and no [DONE]', async () => {
    const { post, invoker } = setup();
    invoker.streamEvents = async function* () {
      yield { token: { text: 'partial' } };
      throw new UpstreamError("The stream from model 'chat-model' broke.", {
        code: 'internal_stream_failure',
      });
    };
    const events = sseEvents(
      await (await post('/v1/chat/completions', { ...chat, stream: true })).text(),
    );
    expect(events).not.toContain('[DONE]');
    const last = JSON.parse(events.at(-1)!);
    expect(last.error).toMatchObject({ code: 'internal_stream_failure', type: 'server_error' });
  });

  it('ends a stream the container closed without its final event with an error, not [DONE]', async () => {
    const { post, invoker } = setup();
    invoker.streamEvents = async function* () {
      yield { token: { text: 'Hel' } };
      yield { token: { text: 'lo' } };
    };
    const events = sseEvents(
      await (await post('/v1/chat/completions', { ...chat, stream: true })).text(),
    );
    expect(events).not.toContain('[DONE]');
    expect(events.some((e) => e.includes('"finish_reason":"stop"'))).toBe(false);
    expect(JSON.parse(events.at(-1)!).error.code).toBe('incomplete_stream');
  });

  it('answers a stream that fails before its first event with a plain HTTP error', async () => {
    const { post, invoker } = setup();
    invoker.failWith = new RateLimitError('busy', 3, { code: 'queue_full' });
    const res = await post('/v1/chat/completions', { ...chat, stream: true });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect((await res.json()).error.code).toBe('queue_full');
  });

  it('answers a text completion, and streams one', async () => {
    const { post } = setup();
    const res = await post('/v1/completions', {
      model: 'text-model',
      prompt: 'once upon',
      max_tokens: 5,
    });
    const body = await res.json();
    expect(body.object).toBe('text_completion');
    expect(body.choices[0].text).toBe('echo:once upon');
    const events = sseEvents(
      await (
        await post('/v1/completions', { model: 'text-model', prompt: 'a b c d', stream: true })
      ).text(),
    );
    expect(events.at(-1)).toBe('[DONE]');
    expect(
      events
        .slice(0, -1)
        .map((e) => JSON.parse(e).choices[0].text)
        .join(''),
    ).toBe('a b c ');
  });

  it('embeds a string and a list, as float or base64 float32', async () => {
    const { post } = setup();
    const one = await (await post('/v1/embeddings', { model: 'embed-model', input: 'abc' })).json();
    expect(one.data).toEqual([{ object: 'embedding', index: 0, embedding: [3, 0, 0, 1] }]);
    const many = await (
      await post('/v1/embeddings', {
        model: 'embed-model',
        input: ['a', 'bb'],
        encoding_format: 'base64',
      })
    ).json();
    const decoded = many.data.map((d: { embedding: string }) => [
      ...new Float32Array(new Uint8Array(Buffer.from(d.embedding, 'base64')).buffer),
    ]);
    expect(decoded).toEqual([
      [1, 0, 0, 1],
      [2, 0, 0, 1],
    ]);
  });

  it('fails every member when the container returns the wrong number of vectors', async () => {
    const { post, invoker } = setup();
    invoker.invoke = async () => [[1, 2, 3, 4]];
    const res = await post('/v1/embeddings', { model: 'embed-model', input: ['a', 'b'] });
    expect(res.status).toBe(502);
    expect((await res.json()).error.code).toBe('batch_size_mismatch');
  });

  it('keeps a well-formed client request id and replaces a malformed one', async () => {
    const { app } = setup();
    const kept = await app.request('/v1/models', { headers: { 'x-request-id': 'trace-42_a=b' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42_a=b');
    const replaced = await app.request('/v1/models', {
      headers: { 'x-request-id': 'bad id <script>' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('puts a request id on error responses too', async () => {
    const { post } = setup();
    const res = await post('/v1/chat/completions', '{');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('client mistakes', () => {
  const cases: Array<[string, string, unknown, number, string | null, Record<string, string>?]> = [
    ['malformed JSON', '/v1/chat/completions', '{"model":', 400, null],
    ['a JSON array body', '/v1/chat/completions', '[]', 400, null],
    ['a missing model', '/v1/chat/completions', { messages: chat.messages }, 400, 'model'],
    ['an unknown model', '/v1/chat/completions', { ...chat, model: 'gpt-17' }, 404, 'model'],
    [
      'a model of the wrong kind',
      '/v1/embeddings',
      { model: 'chat-model', input: 'x' },
      400,
      'model',
    ],
    [
      'messages of the wrong type',
      '/v1/chat/completions',
      { model: 'chat-model', messages: 'hi' },
      400,
      'messages',
    ],
    ['no messages', '/v1/chat/completions', { model: 'chat-model', messages: [] }, 400, 'messages'],
    [
      'an unknown role',
      '/v1/chat/completions',
      { model: 'chat-model', messages: [{ role: 'wizard', content: 'x' }] },
      400,
      'messages.0.role',
    ],
    [
      'temperature above 2',
      '/v1/chat/completions',
      { ...chat, temperature: 2.5 },
      400,
      'temperature',
    ],
    ['top_p of 0', '/v1/chat/completions', { ...chat, top_p: 0 }, 400, 'top_p'],
    [
      'a fractional max_tokens',
      '/v1/chat/completions',
      { ...chat, max_tokens: 1.5 },
      400,
      'max_tokens',
    ],
    [
      'max_tokens above the model limit',
      '/v1/chat/completions',
      { ...chat, max_tokens: 513 },
      400,
      'max_tokens',
    ],
    ['n above 1', '/v1/chat/completions', { ...chat, n: 2 }, 400, 'n'],
    [
      'five stop sequences',
      '/v1/chat/completions',
      { ...chat, stop: ['a', 'b', 'c', 'd', 'e'] },
      400,
      'stop',
    ],
    ['a string stream flag', '/v1/chat/completions', { ...chat, stream: 'yes' }, 400, 'stream'],
    ['a numeric prompt', '/v1/completions', { model: 'text-model', prompt: 42 }, 400, 'prompt'],
    [
      'token-array input',
      '/v1/embeddings',
      { model: 'embed-model', input: [[1, 2]] },
      400,
      'input',
    ],
    ['an empty input list', '/v1/embeddings', { model: 'embed-model', input: [] }, 400, 'input'],
    [
      'an empty input string',
      '/v1/embeddings',
      { model: 'embed-model', input: ['ok', ''] },
      400,
      'input.1',
    ],
    [
      'too many inputs',
      '/v1/embeddings',
      { model: 'embed-model', input: Array(9).fill('x') },
      400,
      'input',
    ],
    [
      'an over-long input',
      '/v1/embeddings',
      { model: 'embed-model', input: 'x'.repeat(1001) },
      400,
      'input.0',
    ],
    [
      'an unknown encoding format',
      '/v1/embeddings',
      { model: 'embed-model', input: 'x', encoding_format: 'hex' },
      400,
      'encoding_format',
    ],
    [
      'unsupported dimensions',
      '/v1/embeddings',
      { model: 'embed-model', input: 'x', dimensions: 3 },
      400,
      'dimensions',
    ],
    [
      'a body over the limit',
      '/v1/embeddings',
      { model: 'embed-model', input: 'x'.repeat(5000) },
      413,
      null,
    ],
    ['a text/plain body', '/v1/embeddings', 'hello', 415, null, { 'content-type': 'text/plain' }],
    ['no content type', '/v1/embeddings', 'hello', 415, null, { 'content-type': '' }],
  ];

  it.each(cases)(
    'answers %s with its 4xx in the OpenAI error shape',
    async (_name, path, body, status, param, headers) => {
      const { post, invoker } = setup();
      const res = await post(path, body, headers ?? {});
      expect(res.status).toBe(status);
      const json = await res.json();
      expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(json.error.type).toBe('invalid_request_error');
      expect(typeof json.error.message).toBe('string');
      expect(json.error.param).toBe(param);
      expect(invoker.calls).toHaveLength(0);
    },
  );

  /** POSTs `parts` as a chunked body: a stream with no declared length. */
  const postChunked = (app: ReturnType<typeof setup>['app'], parts: string[]) =>
    app.request('/v1/embeddings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);

  it('counts a chunked body with no declared length and refuses it past the limit', async () => {
    const { app, invoker } = setup();
    const res = await postChunked(app, Array(8).fill('x'.repeat(1024)));
    expect(res.status).toBe(413);
    expect(invoker.calls).toHaveLength(0);
  });

  it('reads a chunked body under the limit', async () => {
    const { app } = setup();
    const res = await postChunked(app, [JSON.stringify({ model: 'embed-model', input: 'abc' })]);
    expect(res.status).toBe(200);
  });

  it('answers an unknown route with 404 in the error shape', async () => {
    const { app } = setup();
    const res = await app.request('/v1/nothing');
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('unknown_route');
  });
});

describe('logs', () => {
  it('never carry prompt text quoted by an upstream error', async () => {
    const lines: string[] = [];
    const invoker = new EchoInvoker();
    const logger = createJsonLogger({ level: 'debug', write: (l) => lines.push(l) });
    const { app } = createApp({
      config: testConfig(),
      invoker,
      auth: { mode: 'disabled' },
      logger,
    });
    const send = () =>
      app.request('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'chat-model',
          messages: [{ role: 'user', content: 'MY SECRET PROMPT' }],
        }),
      });
    // What the SageMaker invoker throws for a container that rejected the input, quoting it.
    invoker.failWith = mapUpstreamError(
      Object.assign(new Error('Input "MY SECRET PROMPT" is too long'), {
        name: 'ModelError',
        OriginalStatusCode: 500,
      }),
      'chat-model',
    );
    expect((await send()).status).toBe(502);
    // A defect of ours whose message happens to hold request text.
    invoker.failWith = new TypeError('cannot read MY SECRET PROMPT');
    expect((await send()).status).toBe(500);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.join('\n')).not.toContain('SECRET');
  });
});

describe('serving state', () => {
  it('refuses a paused model with 503 and Retry-After', async () => {
    const { post, registry } = setup();
    registry.setState('chat-model', 'paused');
    const res = await post('/v1/chat/completions', chat);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect((await res.json()).error.code).toBe('model_paused');
  });

  it('sends traffic to targets in proportion to their weights', async () => {
    const invoker = new EchoInvoker();
    const config = testConfig({
      models: [
        {
          id: 'embed-model',
          kind: 'embedding',
          policy: 'batch',
          format: 'tei',
          targets: [
            { id: 'stable', endpoint: 'ep-a', weight: 95 },
            { id: 'canary', endpoint: 'ep-b', weight: 5 },
          ],
        },
      ],
    });
    let i = 0;
    // A low-discrepancy sequence instead of Math.random: the split is exact up to rounding.
    const registry = new ModelRegistry(config, { random: () => (i++ * 0.618034) % 1 });
    const second = createApp({ config, invoker, auth: { mode: 'disabled' }, registry }).app;
    for (let n = 0; n < 400; n++) {
      await second.request('/v1/embeddings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'embed-model', input: `x${n}` }),
      });
    }
    const canary = invoker.calls.filter((c) => c.target.endpoint === 'ep-b').length;
    expect(canary).toBeGreaterThanOrEqual(18);
    expect(canary).toBeLessThanOrEqual(22);
  });
});

describe('health', () => {
  it('answers /healthz while the process runs', async () => {
    const { app } = setup();
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('answers /readyz with 503 naming the endpoint that is not ready', async () => {
    const { app, invoker } = setup();
    invoker.failWith = new Error('x');
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.message).toContain('embed-ep');
    expect(body.endpoints).toEqual({
      'chat-ep': 'ready',
      'text-ep': 'ready',
      'embed-ep': 'unavailable',
    });
  });
});

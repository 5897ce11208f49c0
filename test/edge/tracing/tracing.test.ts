import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import type { InvokeOptions, ModelInvoker } from '../../../edge/invoke/invoker.js';
import { GatewayTracer } from '../../../edge/tracing/tracer.js';
import { UpstreamError } from '../../../shared/errors.js';
import { testConfig } from '../../helpers/catalogue.js';

const PROMPT = 'the secret plan is to ship on friday';
const ANSWER = 'a confidential reply';

/** A TGI container in process: a fixed answer, and a three-word stream. */
class TgiInvoker implements ModelInvoker {
  failWith: unknown = undefined;

  async invoke(opts: InvokeOptions): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    const body = opts.body as { inputs: unknown };
    if (Array.isArray(body.inputs)) return body.inputs.map(() => [0.1, 0.2, 0.3, 0.4]);
    return [
      {
        generated_text: ANSWER,
        details: { finish_reason: 'eos_token', generated_tokens: 3, prompt_tokens: 11 },
      },
    ];
  }

  async *invokeStream(): AsyncIterable<unknown> {
    for (const w of ['a', 'b', 'c']) yield { token: { id: 1, text: `${w} `, special: false } };
    yield {
      token: { id: 2, text: '', special: true },
      generated_text: 'a b c',
      details: { finish_reason: 'length', generated_tokens: 3, prompt_tokens: 7 },
    };
  }

  async checkReady(): Promise<void> {}
}

const setup = (options: { recordContent?: boolean; traced?: boolean } = {}) => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const invoker = new TgiInvoker();
  const tracer =
    options.traced === false
      ? undefined
      : new GatewayTracer({ provider, recordContent: options.recordContent ?? false });
  const { app } = createApp({
    config: testConfig(),
    invoker,
    auth: { mode: 'disabled' },
    ...(tracer ? { tracer } : {}),
  });
  const post = (path: string, body: unknown) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const spans = () => exporter.getFinishedSpans();
  return { post, spans, invoker };
};

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'chat-model',
  messages: [{ role: 'user', content: PROMPT }],
  max_tokens: 64,
  temperature: 0.5,
  stop: ['confidential-stop'],
  ...extra,
});

const server = (spans: ReadableSpan[]) => {
  const found = spans.filter((s) => s.kind === SpanKind.SERVER);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const client = (spans: ReadableSpan[]) => {
  const found = spans.filter((s) => s.kind === SpanKind.CLIENT);
  expect(found).toHaveLength(1);
  return found[0]!;
};

/** Every attribute value of every span, as one string. */
const allValues = (spans: ReadableSpan[]) =>
  JSON.stringify(spans.map((s) => Object.values(s.attributes)));

describe('tracing', () => {
  it('records a chat completion as a GenAI span with its parameters, finish reasons and tokens', async () => {
    const { post, spans } = setup();
    const res = await post('/v1/chat/completions', chat());
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: string };

    const request = server(spans());
    expect(request.name).toBe('chat chat-model');
    expect(request.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'aws.sagemaker',
      'gen_ai.request.model': 'chat-model',
      'gen_ai.request.max_tokens': 64,
      'gen_ai.request.temperature': 0.5,
      'gen_ai.response.id': body.id,
      'gen_ai.response.model': 'chat-model',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 3,
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 200,
    });
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('records the target and the upstream call as a child client span', async () => {
    const { post, spans } = setup();
    await post('/v1/chat/completions', chat());
    const request = server(spans());
    const upstream = client(spans());
    expect(upstream.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(upstream.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(upstream.name).toBe('chat default');
    expect(upstream.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'rpc.method': 'InvokeEndpoint',
      'sluice.model': 'chat-model',
      'sluice.target.endpoint': 'chat-ep',
    });
    // Token counts only on the request span: a backend summing them counts each request once.
    expect(upstream.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
  });

  it('keeps prompts, completions and stop sequences out of spans by default', async () => {
    const { post, spans } = setup();
    await post('/v1/chat/completions', chat());
    await post('/v1/completions', { model: 'text-model', prompt: PROMPT, max_tokens: 8 });
    expect(spans().length).toBeGreaterThanOrEqual(4);
    const keys = spans().flatMap((s) => Object.keys(s.attributes));
    expect(keys.filter((k) => /messages|stop_sequences/.test(k))).toEqual([]);
    expect(allValues(spans())).not.toContain('secret plan');
    expect(allValues(spans())).not.toContain('confidential');
  });

  it('records prompts and completions only when recordContent is on', async () => {
    const { post, spans } = setup({ recordContent: true });
    await post('/v1/chat/completions', chat());
    const attributes = server(spans()).attributes;
    expect(JSON.parse(String(attributes['gen_ai.input.messages']))).toEqual([
      { role: 'user', parts: [{ type: 'text', content: PROMPT }] },
    ]);
    expect(JSON.parse(String(attributes['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: ANSWER }], finish_reason: 'stop' },
    ]);
    expect(attributes['gen_ai.request.stop_sequences']).toEqual(['confidential-stop']);
  });

  it('ends a stream span when its last event is read, with the stream finish reasons and usage', async () => {
    const { post, spans } = setup({ recordContent: true });
    const res = await post('/v1/chat/completions', chat({ stream: true }));
    expect(res.status).toBe(200);
    expect(spans().filter((s) => s.kind === SpanKind.SERVER)).toHaveLength(0);
    const text = await res.text();
    expect(text).toContain('[DONE]');

    const request = server(spans());
    expect(request.attributes).toMatchObject({
      'gen_ai.response.finish_reasons': ['length'],
      'gen_ai.usage.input_tokens': 7,
      'gen_ai.usage.output_tokens': 3,
    });
    expect(JSON.parse(String(request.attributes['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'a b c ' }], finish_reason: 'length' },
    ]);
    expect(client(spans()).attributes['rpc.method']).toBe('InvokeEndpointWithResponseStream');
  });

  it('names a text completion and an embedding by their operations', async () => {
    const { post, spans } = setup();
    await post('/v1/completions', { model: 'text-model', prompt: 'hi', max_tokens: 8 });
    await post('/v1/embeddings', { model: 'embed-model', input: ['one', 'two'] });
    const names = spans()
      .filter((s) => s.kind === SpanKind.SERVER)
      .map((s) => s.name);
    expect(names).toEqual(['text_completion text-model', 'embeddings embed-model']);
    const embedding = spans().find((s) => s.name === 'embeddings embed-model')!;
    expect(embedding.attributes['gen_ai.embeddings.dimension.count']).toBe(4);
    const upstream = spans().find(
      (s) => s.kind === SpanKind.CLIENT && s.attributes['sluice.model'] === 'embed-model',
    );
    expect(upstream?.parentSpanContext?.spanId).toBe(embedding.spanContext().spanId);
  });

  it('marks a failed upstream call and its request as errors with the error code', async () => {
    const { post, spans, invoker } = setup();
    invoker.failWith = new UpstreamError('container failed', { code: 'upstream_error' });
    const res = await post('/v1/chat/completions', chat());
    expect(res.status).toBeGreaterThanOrEqual(500);
    const request = server(spans());
    expect(request.status.code).toBe(SpanStatusCode.ERROR);
    expect(request.attributes['error.type']).toBe('upstream_error');
    const upstream = spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(upstream.length).toBeGreaterThanOrEqual(1);
    expect(upstream.every((s) => s.status.code === SpanStatusCode.ERROR)).toBe(true);
  });

  it('records a client error without marking the server span failed', async () => {
    const { post, spans } = setup();
    const res = await post('/v1/chat/completions', chat({ max_tokens: 100_000 }));
    expect(res.status).toBe(400);
    const request = server(spans());
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
    expect(request.attributes['error.type']).toBeDefined();
    expect(request.attributes['http.response.status_code']).toBe(400);
  });

  it('serves the same answers with tracing off, and records nothing', async () => {
    const off = setup({ traced: false });
    const on = setup();
    const plain = (await (await off.post('/v1/chat/completions', chat())).json()) as {
      choices: unknown;
      usage: unknown;
    };
    const traced = (await (await on.post('/v1/chat/completions', chat())).json()) as {
      choices: unknown;
      usage: unknown;
    };
    expect(plain.choices).toEqual(traced.choices);
    expect(plain.usage).toEqual(traced.usage);
    expect(off.spans()).toEqual([]);
    const stream = await off.post('/v1/chat/completions', chat({ stream: true }));
    expect(await stream.text()).toContain('[DONE]');
    expect(off.spans()).toEqual([]);
  });
});

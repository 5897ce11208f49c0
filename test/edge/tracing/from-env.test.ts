import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import type { ModelInvoker } from '../../../edge/invoke/invoker.js';
import { tracesUrl, tracingFromEnv } from '../../../edge/tracing/from-env.js';
import { ConfigError } from '../../../shared/config/load.js';
import { testConfig } from '../../helpers/catalogue.js';

const invoker: ModelInvoker = {
  invoke: async () => [
    {
      generated_text: 'ok',
      details: { finish_reason: 'eos_token', generated_tokens: 2, prompt_tokens: 5 },
    },
  ],
  invokeStream: () => (async function* () {})(),
  checkReady: async () => {},
};

interface Received {
  url: string;
  contentType: string | undefined;
  body: string;
}

/** An OTLP/HTTP collector of our own on loopback: it keeps what it is sent. */
const collector = async () => {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('tracingFromEnv', () => {
  it('builds nothing unless SLUICE_TRACING=otlp', () => {
    expect(tracingFromEnv({})).toBeUndefined();
    expect(tracingFromEnv({ SLUICE_TRACING: 'off' })).toBeUndefined();
    // An endpoint alone does not turn tracing on.
    expect(
      tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }),
    ).toBeUndefined();
  });

  it('refuses an unknown mode, content switch or endpoint, naming the variable', () => {
    expect(() => tracingFromEnv({ SLUICE_TRACING: 'jaeger' })).toThrow(/SLUICE_TRACING/);
    expect(() => tracingFromEnv({ SLUICE_TRACING: 'otlp', SLUICE_TRACING_CONTENT: 'yes' })).toThrow(
      /SLUICE_TRACING_CONTENT/,
    );
    expect(() =>
      tracingFromEnv({ SLUICE_TRACING: 'otlp', SLUICE_TRACING_SAMPLE_RATIO: '10%' }),
    ).toThrow(/SLUICE_TRACING_SAMPLE_RATIO/);
    const bad = () =>
      tracingFromEnv({ SLUICE_TRACING: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('sends traces to the signal path under the base endpoint, or to the traces endpoint as given', () => {
    expect(tracesUrl({})).toBe('http://localhost:4318/v1/traces');
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toBe(
      'http://c:4318/v1/traces',
    );
    expect(
      tracesUrl({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/otlp/traces',
      }),
    ).toBe('https://t.example/otlp/traces');
  });

  it('exports a request span by OTLP/HTTP to the configured collector on shutdown', async () => {
    const sink = await collector();
    const tracing = tracingFromEnv({
      SLUICE_TRACING: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_SERVICE_NAME: 'sluice-under-test',
    })!;
    cleanup = async () => {
      await tracing.shutdown();
      await sink.close();
    };
    const { app } = createApp({
      config: testConfig(),
      invoker,
      auth: { mode: 'disabled' },
      tracer: tracing.tracer,
    });
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    await tracing.shutdown();

    expect(sink.received.length).toBeGreaterThanOrEqual(1);
    expect(sink.received[0]!.url).toBe('/v1/traces');
    expect(sink.received[0]!.contentType).toContain('application/json');
    const exported = sink.received.map((r) => JSON.parse(r.body) as OtlpTraces);
    const resources = exported.flatMap((e) => e.resourceSpans);
    expect(
      resources[0]!.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
    ).toBe('sluice-under-test');
    const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const request = spans.find((s) => s.name === 'chat chat-model');
    expect(request).toBeDefined();
    const tokens = request!.attributes.find((a) => a.key === 'gen_ai.usage.input_tokens');
    expect(Number(tokens?.value.intValue)).toBe(5);
    expect(spans.some((s) => s.name === 'chat default')).toBe(true);
  });
});

describe('tracingFromEnv sampling', () => {
  it('exports nothing at SLUICE_TRACING_SAMPLE_RATIO=0 and still serves', async () => {
    const sink = await collector();
    const tracing = tracingFromEnv({
      SLUICE_TRACING: 'otlp',
      SLUICE_TRACING_SAMPLE_RATIO: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    })!;
    cleanup = async () => {
      await tracing.shutdown();
      await sink.close();
    };
    const { app } = createApp({
      config: testConfig(),
      invoker,
      auth: { mode: 'disabled' },
      tracer: tracing.tracer,
    });
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(
      5,
    );
    await tracing.shutdown();
    expect(sink.received).toEqual([]);
  });
});

/** The parts of OTLP/JSON this test reads. */
interface OtlpTraces {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { spans: { name: string; attributes: OtlpAttribute[] }[] }[];
  }[];
}
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string };
}

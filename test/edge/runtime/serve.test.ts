import { Hono } from 'hono';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import { serveApp, type RunningServer } from '../../../edge/runtime/serve.js';
import type { EndpointBackend } from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { testConfig } from '../../helpers/catalogue.js';

/**
 * Over real sockets: a client that goes away must cancel the upstream SageMaker call, for a
 * plain request and for a stream that has already started.
 */
const calls: AbortSignal[] = [];
const waitForAbort = (signal: AbortSignal) =>
  new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(new Error('aborted'))),
  );

const hanging: EndpointBackend = {
  async invoke(input) {
    calls.push(input.signal);
    return waitForAbort(input.signal);
  },
  async *invokeStream(input) {
    calls.push(input.signal);
    yield new TextEncoder().encode('data:{"token":{"text":"first"}}\n\n');
    await waitForAbort(input.signal);
  },
};

let endpoint: LocalEndpoint;
let server: RunningServer;

beforeAll(async () => {
  endpoint = await startLocalEndpoint({
    port: 0,
    backends: { 'chat-ep': hanging },
    onUnexpectedError: () => {},
  });
  const invoker = new SageMakerInvoker({
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  const { app } = createApp({ config: testConfig(), invoker, auth: { mode: 'disabled' } });
  server = await serveApp(app, { port: 0 });
});

afterAll(async () => {
  await server.close();
  await endpoint.close();
});

const chat = (stream: boolean, signal: AbortSignal) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'chat-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream,
    }),
    signal,
  });

describe('client disconnects', () => {
  it('abort the upstream call of a request still waiting for its answer', async () => {
    const before = calls.length;
    const client = new AbortController();
    const pending = chat(false, client.signal).catch(() => undefined);
    await expect.poll(() => calls.length).toBe(before + 1);
    client.abort();
    await pending;
    await expect.poll(() => calls[before]!.aborted).toBe(true);
  });

  it('abort the upstream stream after the first chunk reached the client', async () => {
    const before = calls.length;
    const client = new AbortController();
    const res = await chat(true, client.signal);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain('data:');
    client.abort();
    await expect.poll(() => calls[before]!.aborted).toBe(true);
  });
});

describe('serveApp facing clients directly', () => {
  it('cuts a client that sends its headers too slowly, and refuses connections over the cap', async () => {
    const app = new Hono();
    app.get('/', (c) => c.text('ok'));
    const server = await serveApp(app, {
      port: 0,
      headersTimeoutMs: 300,
      requestTimeoutMs: 1000,
      maxConnections: 2,
      drainMs: 0,
    });
    const { port } = new URL(server.url);
    const open = () =>
      new Promise<Socket>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
      });
    const closed = (socket: Socket) =>
      new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (d) => (data += d));
        socket.on('close', () => resolve(data));
      });
    try {
      // A slowloris: half a request line, then nothing.
      const slow = await open();
      slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const started = performance.now();
      const answer = await closed(slow);
      expect(answer).toMatch(/^HTTP\/1.1 408/);
      expect(performance.now() - started).toBeLessThan(5000);

      const a = await open();
      const b = await open();
      const c = await open();
      // The third connection is closed by the server without an answer.
      expect(await closed(c)).toBe('');
      a.destroy();
      b.destroy();
    } finally {
      await server.close();
    }
  });
});

import { Agent } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import { serveApp, type RunningServer } from '../../../edge/runtime/serve.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import {
  bodyOf,
  HeldBackend,
  heldCatalogue,
  isOwnAnswer,
  markerOf,
  post,
  RawConnection,
  type Kind,
} from './drain-fixtures.js';

/**
 * The drain `close()` runs on SIGTERM, over real sockets: the gateway in this process, the
 * local SageMaker-compatible endpoint with a held backend behind it.
 */
let backend: HeldBackend;
let endpoint: LocalEndpoint;
let agent: Agent;

beforeEach(async () => {
  backend = new HeldBackend();
  endpoint = await startLocalEndpoint({
    port: 0,
    backends: { held: backend },
    onUnexpectedError: () => {},
  });
  agent = new Agent({ keepAlive: true, maxSockets: 256 });
});

afterEach(async () => {
  backend.open();
  agent.destroy();
  await endpoint.close();
});

const gateway = (drainMs: number): Promise<RunningServer> => {
  const invoker = new SageMakerInvoker({
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  const config = parseGatewayConfig(heldCatalogue);
  const { app } = createApp({ config, invoker, auth: { mode: 'disabled' } });
  return serveApp(app, { port: 0, drainMs });
};

const pathOf = (kind: Kind) => (kind === 'embed' ? '/v1/embeddings' : '/v1/chat/completions');

const refusesConnections = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

describe('draining the Node server', () => {
  it('finishes every request in flight, streams and open batches included, then closes at once', async () => {
    const server = await gateway(30_000);
    const kinds: Kind[] = [
      ...Array<Kind>(20).fill('embed'),
      ...Array<Kind>(20).fill('chat'),
      ...Array<Kind>(10).fill('stream'),
    ];
    const answers = kinds.map((kind, i) =>
      post(server.url, pathOf(kind), bodyOf(kind, markerOf(i)), { agent }),
    );
    // Every chat and stream reached the endpoint; the embeddings sit in one held batch and one
    // open batch behind it.
    await expect.poll(() => backend.calls, { timeout: 10_000 }).toBeGreaterThanOrEqual(31);
    await expect.poll(() => backend.items, { timeout: 10_000 }).toBeGreaterThan(30);
    expect(backend.items).toBeLessThan(50);

    const drained = server.close();
    await expect.poll(() => refusesConnections(server.url)).toBe(true);
    const released = Date.now();
    backend.open();
    const results = await Promise.all(answers);
    const report = await drained;

    expect(results.filter((r, i) => !isOwnAnswer(kinds[i]!, markerOf(i), r))).toEqual([]);
    // Responses that had not started when the drain began tell the client to hang up.
    results.forEach((r, i) => {
      if (kinds[i] !== 'stream') expect(r.headers.connection).toBe('close');
    });
    expect(report).toMatchObject({ inflight: 50, refused: 0, cut: 0 });
    expect(Date.now() - released).toBeLessThan(5_000);
  });

  it('closes idle connections at once and each busy one as its last response ends', async () => {
    const server = await gateway(30_000);
    const idle = await RawConnection.open(server.url);
    idle.send('/v1/embeddings', bodyOf('embed', markerOf('idle')));
    backend.open();
    const first = await idle.head();
    await idle.body(first.headers);
    expect(first.headers.connection).toBe('keep-alive');
    backend.close();

    const waiting = await RawConnection.open(server.url);
    waiting.send('/v1/chat/completions', bodyOf('chat', markerOf('waiting')));
    const streaming = await RawConnection.open(server.url);
    streaming.send('/v1/chat/completions', bodyOf('stream', markerOf('streaming')));
    const streamHead = await streaming.head();
    expect(streamHead.headers.connection).toBe('keep-alive');
    await streaming.bodyUntil('data: ');
    await expect.poll(() => backend.calls).toBe(3);

    const drained = server.close();
    await idle.closed;
    expect(waiting.isClosed || streaming.isClosed).toBe(false);

    backend.open();
    const waitingHead = await waiting.head();
    expect(waitingHead.headers.connection).toBe('close');
    expect(
      isOwnAnswer('chat', markerOf('waiting'), {
        status: waitingHead.status,
        headers: waitingHead.headers,
        body: await waiting.body(waitingHead.headers),
      }),
    ).toBe(true);
    const streamBody = await streaming.body(streamHead.headers);
    expect(streamBody).toContain('data: [DONE]');
    // The stream's response promised keep-alive; the server closes the connection anyway, and a
    // request sent on it now is never forwarded.
    await Promise.all([waiting.closed, streaming.closed]);
    streaming.send('/v1/chat/completions', bodyOf('chat', markerOf('late')));
    await drained;
    expect(backend.calls).toBe(3);
  });

  it('never forwards a request that reaches an open connection during the drain', async () => {
    const server = await gateway(30_000);
    const busy = await RawConnection.open(server.url);
    busy.send('/v1/chat/completions', bodyOf('chat', markerOf('busy')));
    await expect.poll(() => backend.calls).toBe(1);
    const drained = server.close();
    // A request pipelined behind the one in flight arrives after the drain began.
    busy.send('/v1/chat/completions', bodyOf('chat', markerOf('pipelined')));
    backend.open();
    const first = await busy.head();
    await busy.body(first.headers);
    const second = await busy.head().catch(() => undefined);
    if (second) {
      expect(second.status).toBe(503);
      expect(JSON.parse(await busy.body(second.headers)).error.code).toBe('shutting_down');
    }
    // Either way the pipelined request is never forwarded: the 503 reaches the client, or the
    // connection closes after the first answer, which said `Connection: close`.
    expect(first.headers.connection).toBe('close');
    await busy.closed;
    expect(backend.calls).toBe(1);
    await drained;
  });

  it('ends what is still running at the deadline with 503 or a stream error event', async () => {
    const server = await gateway(300);
    const chat = post(server.url, pathOf('chat'), bodyOf('chat', markerOf(1)), { agent });
    const stream = post(server.url, pathOf('stream'), bodyOf('stream', markerOf(2)), { agent });
    await expect.poll(() => backend.calls).toBe(2);
    // The stream has sent its head (its first upstream event arrived) before the drain starts.
    await new Promise((r) => setTimeout(r, 100));
    const report = await server.close();

    const [chatAnswer, streamAnswer] = await Promise.all([chat, stream]);
    expect(chatAnswer.status).toBe(503);
    expect(chatAnswer.headers['retry-after']).toBe('1');
    expect(JSON.parse(chatAnswer.body).error.code).toBe('shutting_down');
    expect(streamAnswer.status).toBe(200);
    const events = streamAnswer.body.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toContain('"code":"shutting_down"');
    expect(streamAnswer.body).not.toContain('[DONE]');
    expect(report).toMatchObject({ inflight: 2, cut: 2 });
    // The stream's upstream call is given up, as when a client leaves.
    await expect.poll(() => backend.streamSignals[0]?.aborted).toBe(true);
  });
});

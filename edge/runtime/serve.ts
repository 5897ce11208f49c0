import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceUnavailableError } from '../../shared/errors.js';

export interface ServeOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** `0` picks a free port. */
  port: number;
  /**
   * How long `close()` lets in-flight requests run. At this deadline a request still waiting
   * for its answer gets a 503 `shutting_down`, a stream ends with a `shutting_down` error event,
   * and anything else still open is cut shortly after. `0` cuts everything at once.
   * @default 10000
   */
  drainMs?: number;
  /**
   * Longest a client may take to send a request's headers; a slow client is answered 408 and
   * cut, so it cannot hold a socket open. Above the keep-alive timeout (65 s) by default, as load
   * balancers expect; lower it when the gateway faces clients directly. @default 66000
   */
  headersTimeoutMs?: number;
  /**
   * Longest a client may take to send a whole request (headers and body). Only the request: a
   * long streamed answer is not limited by it. @default 300000
   */
  requestTimeoutMs?: number;
  /** Open connections at most; further ones are refused at once. @default 10000 */
  maxConnections?: number;
}

/** What a drain did, for the shutdown log line. */
export interface DrainReport {
  /** Requests in flight when the drain began. */
  inflight: number;
  /** Requests that arrived on an open connection during the drain and got 503 `shutting_down`. */
  refused: number;
  /** Requests the deadline ended (503 or a stream's error event). */
  cut: number;
  /** From the start of the drain to the last connection closed. */
  durationMs: number;
}

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /**
   * Drains and stops: accepts no new connection, closes idle kept-alive connections at once,
   * answers every response that has not started yet with `Connection: close`, closes each
   * connection as its last response ends, and resolves as soon as the last connection is closed
   * (at the latest shortly after `drainMs`). Idempotent: later calls return the same promise.
   */
  close(): Promise<DrainReport>;
}

/** After the deadline, how long the 503s and error events get to reach their clients. */
const CUT_GRACE_MS = 500;

const shuttingDown = () =>
  new ServiceUnavailableError('The gateway is shutting down; retry the request.', 1, {
    code: 'shutting_down',
  });

/**
 * Serves a Hono app with Node's HTTP server: the runtime for `npm run serve`, `npm start`,
 * containers and Kubernetes. The Lambda handler in `functions/gateway/` wraps the same app
 * instead. `close()` is the graceful drain a SIGTERM starts (see `node-main.ts`).
 */
export const serveApp = async (
  app: Pick<Hono, 'fetch'>,
  options: ServeOptions,
): Promise<RunningServer> => {
  const host = options.host ?? '127.0.0.1';
  const drainMs = options.drainMs ?? 10_000;
  const drain = new DrainState();
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>(
    (resolve, reject) => {
      const server = serve(
        {
          fetch: (request, env) => drain.fetch(app, request, env),
          hostname: host,
          port: options.port,
          // Node checks the header and request timeouts on this interval (30 s by default, which
          // would let a slow client hold its socket that much longer than the timeout says).
          serverOptions: {
            connectionsCheckingInterval: Math.max(
              100,
              Math.min(5_000, (options.headersTimeoutMs ?? 66_000) / 2),
            ),
          },
        },
        (address) => resolve({ server: server as Server, address }),
      ) as Server;
      server.once('error', reject);
    },
  );
  // Keep-alive sockets outlive a request; a load balancer's are 60 s or more.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = options.headersTimeoutMs ?? 66_000;
  server.requestTimeout = options.requestTimeoutMs ?? 300_000;
  server.maxConnections = options.maxConnections ?? 10_000;
  // Before the adapter's own listener, so the drain sees every response from its start.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) =>
    drain.track(server, res),
  );
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<DrainReport> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    close: () => (closing ??= drain.run(server, drainMs)),
  };
};

/** The bookkeeping of one server's drain: responses in flight and who to end at the deadline. */
class DrainState {
  private draining = false;
  private readonly responses = new Set<ServerResponse>();
  /** Called at the deadline: each ends one request still running. */
  private readonly atDeadline = new Set<() => void>();
  private readonly report: DrainReport = { inflight: 0, refused: 0, cut: 0, durationMs: 0 };

  async fetch(app: Pick<Hono, 'fetch'>, request: Request, env: unknown): Promise<Response> {
    if (this.draining) {
      this.report.refused++;
      return errorResponse(shuttingDown());
    }
    const response = await this.beforeDeadline(Promise.resolve(app.fetch(request, env)));
    if (!response) {
      this.report.cut++;
      return errorResponse(shuttingDown());
    }
    const type = response.headers.get('content-type') ?? '';
    return response.body && type.startsWith('text/event-stream')
      ? this.endingAtDeadline(response)
      : response;
  }

  track(server: Server, res: ServerResponse): void {
    this.responses.add(res);
    if (this.draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      this.responses.delete(res);
      // The response's socket is idle now (a response that had already said keep-alive).
      if (this.draining) server.closeIdleConnections();
    });
  }

  run(server: Server, drainMs: number): Promise<DrainReport> {
    const started = Date.now();
    this.draining = true;
    this.report.inflight = this.responses.size;
    // Node then sends `Connection: close` and closes the socket after the response.
    for (const res of this.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    return new Promise<DrainReport>((resolve) => {
      let cut: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        for (const end of this.atDeadline) end();
        this.atDeadline.clear();
        cut = setTimeout(() => server.closeAllConnections(), Math.min(CUT_GRACE_MS, drainMs));
      }, drainMs);
      // Stops listening and closes idle connections; calls back once the last one is closed.
      server.close(() => {
        clearTimeout(deadline);
        clearTimeout(cut);
        this.report.durationMs = Date.now() - started;
        resolve({ ...this.report });
      });
    });
  }

  /** The app's response, or `undefined` when the deadline comes first. */
  private beforeDeadline(work: Promise<Response>): Promise<Response | undefined> {
    return new Promise<Response | undefined>((resolve, reject) => {
      const end = () => resolve(undefined);
      this.atDeadline.add(end);
      work.then(
        (response) => {
          this.atDeadline.delete(end);
          resolve(response);
        },
        (err: unknown) => {
          this.atDeadline.delete(end);
          reject(err);
        },
      );
    });
  }

  /**
   * Passes a server-sent event stream through; at the deadline it cancels the app's stream
   * (which aborts the upstream call, as a client leaving would) and ends with one error event
   * instead, so the client sees why it ended. Chunks are whole events, so the error event never
   * lands inside another one.
   */
  private endingAtDeadline(response: Response): Response {
    const reader = response.body!.getReader();
    let finished = false;
    let end = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        end = () => {
          if (finished) return;
          finished = true;
          this.report.cut++;
          const event = `data: ${JSON.stringify(shuttingDown().toJSON())}\n\n`;
          controller.enqueue(new TextEncoder().encode(event));
          controller.close();
          reader.cancel(shuttingDown()).catch(() => {});
        };
        this.atDeadline.add(end);
      },
      pull: async (controller) => {
        try {
          const { done, value } = await reader.read();
          if (finished) return;
          if (done) {
            finished = true;
            this.atDeadline.delete(end);
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (err) {
          if (finished) return;
          finished = true;
          this.atDeadline.delete(end);
          controller.error(err);
        }
      },
      cancel: (reason) => {
        finished = true;
        this.atDeadline.delete(end);
        return reader.cancel(reason);
      },
    });
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }
}

const errorResponse = (error: ServiceUnavailableError): Response =>
  new Response(JSON.stringify(error.toJSON()), {
    status: error.status,
    headers: { 'content-type': 'application/json', ...error.headers() },
  });

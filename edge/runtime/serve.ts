import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServeOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** `0` picks a free port. */
  port: number;
  /** How long `close()` lets in-flight requests finish before cutting them. @default 10000 */
  drainMs?: number;
}

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** Stops accepting connections, lets in-flight requests finish (up to `drainMs`), then closes. */
  close(): Promise<void>;
}

/**
 * Serves a Hono app with Node's HTTP server: the runtime for `npm start`, containers and
 * Kubernetes. The Lambda handler in `functions/gateway/` wraps the same app instead.
 */
export const serveApp = async (
  app: Pick<Hono, 'fetch'>,
  options: ServeOptions,
): Promise<RunningServer> => {
  const host = options.host ?? '127.0.0.1';
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>(
    (resolve, reject) => {
      const server = serve({ fetch: app.fetch, hostname: host, port: options.port }, (address) =>
        resolve({ server: server as Server, address }),
      ) as Server;
      server.once('error', reject);
    },
  );
  // Keep-alive sockets outlive a request; a load balancer's are 60 s or more.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), options.drainMs ?? 10_000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
};

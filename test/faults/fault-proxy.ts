import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * What the proxy does to the connections it carries:
 * - `pass`: forwards bytes both ways;
 * - `reset`: resets (TCP RST) a connection as soon as a request arrives on it, before any byte
 *   of an answer;
 * - `cut-stream`: forwards the request and the first `cutAfterChunks` chunks of the answer, then
 *   resets: a stream broken midway by the network.
 */
export type ProxyMode = 'pass' | 'reset' | 'cut-stream';

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: hand it to the SageMaker Runtime client as its endpoint. */
  url: string;
  mode: ProxyMode;
  /** Sets the mode for the next `times` connections it applies to, `pass` after them. */
  fault(mode: Exclude<ProxyMode, 'pass'>, times?: number): void;
  /** Answer chunks `cut-stream` lets through. @default 2 */
  cutAfterChunks: number;
  /** Connections the proxy reset. */
  readonly resets: number;
  /** Stops listening and drops every connection: connecting is refused, as while a host restarts. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of the local SageMaker-compatible endpoint, injecting the
 * faults only the network produces: connections reset before an answer or in the middle of a
 * stream, and connections refused while the endpoint "restarts".
 */
export const startFaultProxy = async (upstreamUrl: string): Promise<FaultProxy> => {
  const upstream = new URL(upstreamUrl);
  const sockets = new Set<Socket>();
  let resets = 0;
  let server: Server | undefined;
  let port = 0;
  let left = Infinity;
  /** Whether this connection gets the fault; counts it down. */
  const take = (mode: ProxyMode): boolean => {
    if (proxy.mode !== mode) return false;
    if (--left <= 0) proxy.mode = 'pass';
    return true;
  };

  const reset = (socket: Socket) => {
    resets++;
    socket.resetAndDestroy();
  };

  const handle = (client: Socket) => {
    sockets.add(client);
    const target = connect(Number(upstream.port), upstream.hostname);
    sockets.add(target);
    let chunks = 0;
    let cut = false;
    client.on('data', (data) => {
      // Decided per request: a kept-alive connection carries many.
      if (take('cut-stream')) {
        cut = true;
        chunks = 0;
      }
      if (take('reset')) {
        reset(client);
        target.destroy();
        return;
      }
      target.write(data);
    });
    target.on('data', (data) => {
      if (client.destroyed) return;
      client.write(data);
      if (cut && ++chunks === proxy.cutAfterChunks) {
        // Let the written bytes leave before the reset.
        setTimeout(() => {
          if (!client.destroyed) reset(client);
          target.destroy();
        }, 5);
      }
    });
    const drop = () => {
      client.destroy();
      target.destroy();
    };
    client.on('close', () => {
      sockets.delete(client);
      target.destroy();
    });
    target.on('close', () => {
      sockets.delete(target);
      client.end();
    });
    client.on('error', drop);
    target.on('error', drop);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(handle);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await listen();
  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    mode: 'pass',
    fault(mode, times = Infinity) {
      left = times;
      proxy.mode = mode;
    },
    cutAfterChunks: 2,
    get resets() {
      return resets;
    },
    stop,
    start: listen,
    close: stop,
  };
  return proxy;
};

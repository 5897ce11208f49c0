import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EndpointBackend } from '../../local/endpoint/backend.js';
import { createEndpointApp } from '../../local/endpoint/server.js';
import { currentSocket } from './gpu-simulator.js';

export interface SimulatorServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves backends with the local SageMaker-compatible app, as `startLocalEndpoint` does, but
 * runs each request with its socket in `currentSocket`, so a `reset` fault can cut the
 * connection the way a crashed container would.
 */
export const startSimulator = async (options: {
  backends: Readonly<Record<string, EndpointBackend>>;
  port?: number;
}): Promise<SimulatorServer> => {
  const app = createEndpointApp({ backends: options.backends, onUnexpectedError: () => {} });
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>(
    (resolve, reject) => {
      const server = serve(
        {
          fetch: (request, env: { incoming: { socket: import('node:net').Socket } }) =>
            currentSocket.run(env.incoming.socket, () => app.fetch(request, env)),
          hostname: '127.0.0.1',
          port: options.port ?? 0,
        },
        (address) => resolve({ server: server as Server, address }),
      ) as Server;
      server.once('error', reject);
    },
  );
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};

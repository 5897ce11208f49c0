/**
 * `npm run serve`: the production gateway as a plain Node server (a container, Kubernetes),
 * configured entirely from the environment (see `gatewayFromEnv`). Authentication is always
 * on here. SIGTERM drains in-flight requests before exiting.
 */
import { gatewayFromEnv } from './from-env.js';
import { serveApp } from './serve.js';

const { app } = gatewayFromEnv(process.env);
const server = await serveApp(app, {
  host: process.env.HOST ?? '0.0.0.0',
  port: Number(process.env.PORT ?? 8787),
  drainMs: Number(process.env.SLUICE_DRAIN_MS ?? 10_000),
});
process.stderr.write(`Sluice gateway listening on ${server.url}\n`);

const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

/**
 * `npm run serve` and the container's entrypoint: the production gateway as a plain Node server
 * (a container, Kubernetes), configured entirely from the environment (see `gatewayFromEnv` and
 * `serveOptionsFromEnv`). Authentication is always on here.
 *
 * Run it as `node --import tsx edge/runtime/node-main.ts` so that this process is the one that
 * receives SIGTERM (see docs/serving.md). SIGTERM or SIGINT drains: nothing new is accepted,
 * in-flight requests and streams finish (up to `SLUICE_DRAIN_MS`), then the process exits 0.
 */
import { ConfigError } from '../../shared/config/load.js';
import { createJsonLogger, type LogLevel } from '../types.js';
import { gatewayFromEnv, serveOptionsFromEnv } from './from-env.js';
import { serveApp } from './serve.js';

const logger = createJsonLogger({
  level: (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info',
});

const start = async () => {
  try {
    const options = serveOptionsFromEnv(process.env);
    const { app, usage, tracing } = gatewayFromEnv(process.env);
    return { options, usage, tracing, server: await serveApp(app, options) };
  } catch (err) {
    // A configuration mistake reads better without a stack trace.
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
};

const { options, usage, tracing, server } = await start();
logger.info({ url: server.url, pid: process.pid, drainMs: options.drainMs }, 'listening');

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  // One Ctrl-C reaches this process twice under npm (from the terminal and forwarded by npm):
  // a repeat must not cut the drain short.
  if (stopping) return;
  stopping = true;
  logger.info({ signal, drainMs: options.drainMs }, 'draining');
  server.close().then(
    async (report) => {
      logger.info({ ...report }, 'drained');
      // Usage records of the last requests leave before the process does.
      await usage.flush().catch((err: unknown) => {
        logger.error({ error: String(err) }, 'usage flush failed');
      });
      // So do the spans still buffered (SLUICE_TRACING=otlp).
      await tracing?.shutdown().catch((err: unknown) => {
        logger.error({ error: String(err) }, 'trace export failed');
      });
      process.exit(0);
    },
    (err: unknown) => {
      logger.error({ error: String(err) }, 'drain failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

import { fileURLToPath } from 'node:url';
import { loadGatewayConfig } from '../shared/config/load.js';
import type { GatewayConfig } from '../shared/config/schema.js';
import { createApp, type AuthDeps } from '../edge/app.js';
import { SageMakerInvoker } from '../edge/invoke/sagemaker.js';
import { PromMetrics } from '../edge/metrics/metrics.js';
import { serveApp } from '../edge/runtime/serve.js';
import { silentLogger, type Logger } from '../edge/types.js';
import { startLocalEndpoint } from './endpoint/server.js';
import { createLocalBackends, type LocalBackends } from './model/local-backends.js';

export const DEFAULT_LOCAL_CONFIG = fileURLToPath(new URL('./config.json', import.meta.url));

export interface LocalStackOptions {
  /** Gateway address. @default '127.0.0.1' */
  host?: string;
  /** Gateway port; `0` picks a free one. @default 8787 */
  port?: number;
  /** Local SageMaker-compatible endpoint port. @default 0 (any free port) */
  endpointPort?: number;
  /** Catalogue file. @default `SLUICE_CONFIG`, else `local/config.json` */
  configPath?: string;
  /**
   * `disabled` turns authentication off: every caller is an anonymous consumer. Only this
   * local stack offers it, and only when asked (`--no-auth`).
   * @default 'local-issuer'
   */
  auth?: 'local-issuer' | 'disabled';
  /** Models behind the endpoint; loaded with {@link createLocalBackends} when absent. */
  backends?: LocalBackends;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface LocalStack {
  gatewayUrl: string;
  endpointUrl: string;
  config: GatewayConfig;
  backends: LocalBackends;
  /** Stops the gateway, then the endpoint, then the models. */
  close(): Promise<void>;
}

/** Placeholder credentials: the local endpoint does not verify SigV4 signatures. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Starts the whole request path on loopback with no AWS account: the CPU model behind a
 * SageMaker-compatible endpoint, and the gateway calling it with the real AWS SDK.
 */
export const startLocalStack = async (options: LocalStackOptions = {}): Promise<LocalStack> => {
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const configPath = options.configPath ?? env.SLUICE_CONFIG ?? DEFAULT_LOCAL_CONFIG;
  const fileConfig = loadGatewayConfig({ path: configPath, env });
  const backends = options.backends ?? (await createLocalBackends({ env }));
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch(() => {});
  };
  try {
    if (!options.backends) closers.push(() => backends.close());
    const endpoint = await startLocalEndpoint({
      host: '127.0.0.1',
      port: options.endpointPort ?? 0,
      backends: backends.backends,
      onUnexpectedError: (err) => logger.error({ cause: String(err) }, 'local endpoint failed'),
    });
    closers.push(() => endpoint.close());

    const config: GatewayConfig = {
      ...fileConfig,
      upstream: { ...fileConfig.upstream, endpointUrl: endpoint.url },
    };
    const invoker = new SageMakerInvoker({
      region: config.upstream.region,
      endpointUrl: endpoint.url,
      credentials: LOCAL_CREDENTIALS,
    });
    const auth: AuthDeps = { mode: 'disabled' };
    const prometheus = new PromMetrics();
    const { app } = createApp({ config, invoker, auth, logger, metrics: prometheus });
    const gateway = await serveApp(app, {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 8787,
    });
    closers.push(() => gateway.close());
    return { gatewayUrl: gateway.url, endpointUrl: endpoint.url, config, backends, close };
  } catch (err) {
    await close();
    throw err;
  }
};

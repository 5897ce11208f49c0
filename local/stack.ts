import { fileURLToPath } from 'node:url';
import { loadGatewayConfig } from '../shared/config/load.js';
import type { GatewayConfig } from '../shared/config/schema.js';
import { createApp } from '../edge/app.js';
import { authFromEnv, type AuthOptions } from '../edge/auth/options.js';
import { SageMakerInvoker } from '../edge/invoke/sagemaker.js';
import { PromMetrics } from '../edge/metrics/metrics.js';
import { serveApp } from '../edge/runtime/serve.js';
import { quotaGateFromEnv } from '../edge/quota/from-env.js';
import { jsonAuditSink } from '../edge/admin/audit.js';
import { BatchingUsageSink, logUsageWriter } from '../edge/usage/sink.js';
import { silentLogger, systemClock, type Logger } from '../edge/types.js';
import { createQuotaTable, startLocalDynamo } from './dynamo/server.js';
import { startLocalEndpoint } from './endpoint/server.js';
import { DEV_ADMIN_USER } from './issuer/clients.js';
import { startLocalIssuer, type LocalIssuer } from './issuer/server.js';
import { defaultStateFilePath } from './issuer/state-file.js';
import { createLocalBackends, type LocalBackends } from './model/local-backends.js';

export const DEFAULT_LOCAL_CONFIG = fileURLToPath(new URL('./config.json', import.meta.url));

export interface LocalStackOptions {
  /** Gateway address. @default '127.0.0.1' */
  host?: string;
  /** Gateway port; `0` picks a free one. @default 8787 */
  port?: number;
  /** Local SageMaker-compatible endpoint port. @default 0 (any free port) */
  endpointPort?: number;
  /** Local OAuth issuer port. @default 8788 */
  issuerPort?: number;
  /**
   * Where the issuer writes the 0600 file `npm run token` reads; `null` writes none.
   * @default `.local/issuer.json`
   */
  issuerStateFile?: string | null;
  /** Receives the issuer's start-up lines (client ids and generated secrets). @default stderr */
  print?: (line: string) => void;
  /** Catalogue file. @default `SLUICE_CONFIG`, else `local/config.json` */
  configPath?: string;
  /**
   * `disabled` turns authentication off: every caller is an anonymous consumer. Only this
   * local stack offers it, and only when asked (`--no-auth`).
   * @default 'local-issuer'
   */
  auth?: 'local-issuer' | 'disabled';
  /** Sign the browser (PKCE) user in with the `Admin` group (`--dev-admin`). @default false */
  devAdmin?: boolean;
  /**
   * Where usage records and audit lines go (JSON lines, whatever the log level).
   * @default stdout
   */
  records?: (text: string) => void;
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
  /** The local OAuth issuer; absent when authentication is disabled. */
  issuer: LocalIssuer | undefined;
  /** The local DynamoDB (dynalite) holding the quota table; absent when quotas are off. */
  quotaStore: { endpoint: string; tableName: string } | undefined;
  /** Stops the gateway, then the endpoint, then the models. */
  close(): Promise<void>;
}

/** Placeholder credentials: the local endpoint does not verify SigV4 signatures. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Starts the whole request path on loopback with no AWS account: the CPU model behind a
 * SageMaker-compatible endpoint, a local OAuth issuer standing in for Cognito, and the gateway
 * verifying its tokens with jose and calling the endpoint with the real AWS SDK.
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
    let issuer: LocalIssuer | undefined;
    let auth: AuthOptions = { mode: 'disabled' };
    if (options.auth !== 'disabled') {
      const stateFile =
        options.issuerStateFile === undefined ? defaultStateFilePath() : options.issuerStateFile;
      issuer = await startLocalIssuer({
        host: '127.0.0.1',
        port: options.issuerPort ?? 8788,
        ...(stateFile ? { stateFile } : {}),
        ...(options.print ? { print: options.print } : {}),
        ...(options.devAdmin ? { user: DEV_ADMIN_USER } : {}),
      });
      closers.push(() => issuer!.close());
      auth = authFromEnv(issuer.authEnv, config.auth);
    }
    // Quotas run the production code on a real DynamoDB API: dynalite in memory, the real SDK.
    let quotaStore: LocalStack['quotaStore'];
    let quota: ReturnType<typeof quotaGateFromEnv>;
    if (config.quotas.enabled) {
      const dynamo = await startLocalDynamo();
      closers.push(() => dynamo.close());
      const tableName = config.quotas.tableName ?? 'sluice-quotas';
      const client = dynamo.client();
      closers.push(async () => client.destroy());
      await createQuotaTable(client, tableName);
      quota = quotaGateFromEnv({ SLUICE_QUOTA_TABLE: tableName }, config, {
        clock: systemClock,
        logger,
        client,
      });
      quotaStore = { endpoint: dynamo.endpoint, tableName };
    }
    const records = options.records ?? ((text: string) => void process.stdout.write(text));
    const usage = new BatchingUsageSink({ writers: [logUsageWriter(records)], logger });
    closers.push(() => usage.flush());
    const audit = jsonAuditSink({ write: (line) => records(line + '\n') });
    const prometheus = new PromMetrics();
    const { app } = createApp({
      config,
      invoker,
      auth,
      logger,
      metrics: prometheus,
      audit,
      usage,
      ...(quota ? { quota } : {}),
    });
    const gateway = await serveApp(app, {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 8787,
    });
    closers.push(async () => {
      await gateway.close();
    });
    return {
      gatewayUrl: gateway.url,
      endpointUrl: endpoint.url,
      config,
      backends,
      issuer,
      quotaStore,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
};

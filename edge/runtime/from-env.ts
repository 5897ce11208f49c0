import { ConfigError, loadGatewayConfig } from '../../shared/config/load.js';
import { createApp, type GatewayApp } from '../app.js';
import { trafficFromEnv } from '../admin/step-functions.js';
import { authFromEnv } from '../auth/options.js';
import { SageMakerInvoker } from '../invoke/sagemaker.js';
import { EmfMetrics } from '../metrics/emf.js';
import { PromMetrics, teeMetrics } from '../metrics/metrics.js';
import { ModelRegistry } from '../models/registry.js';
import { quotaGateFromEnv } from '../quota/from-env.js';
import { tracingFromEnv, type Tracing } from '../tracing/from-env.js';
import type { BatchingUsageSink } from '../usage/sink.js';
import { usageFromEnv } from '../usage/from-env.js';
import { createJsonLogger, systemClock, type LogLevel } from '../types.js';
import type { ServeOptions } from './serve.js';

/**
 * Builds the production gateway from the environment: the catalogue (`SLUICE_CONFIG` or
 * `SLUICE_CONFIG_JSON`), JWT authentication (`SLUICE_AUTH_*`, always on), traffic shifts through
 * Step Functions (`SLUICE_TRAFFIC_STATE_MACHINE_ARN`), SageMaker in
 * `AWS_REGION`, JSON logs (`LOG_LEVEL`), Prometheus metrics and, with `SLUICE_METRICS=emf`,
 * CloudWatch EMF as well, and with `SLUICE_TRACING=otlp`, OpenTelemetry spans by OTLP (see
 * `tracingFromEnv`). Fails at start-up with a message naming what is missing.
 */
export const gatewayFromEnv = (
  env: NodeJS.ProcessEnv = process.env,
): GatewayApp & {
  prometheus: PromMetrics;
  usage: BatchingUsageSink;
  /** Present with `SLUICE_TRACING=otlp`; its `shutdown` exports the last spans. */
  tracing: Tracing | undefined;
} => {
  const config = loadGatewayConfig({ env });
  const logger = createJsonLogger({ level: (env.LOG_LEVEL as LogLevel | undefined) ?? 'info' });
  const prometheus = new PromMetrics();
  const metrics =
    env.SLUICE_METRICS === 'emf' ? teeMetrics(prometheus, new EmfMetrics()) : prometheus;
  const invoker = new SageMakerInvoker({
    region: config.upstream.region,
    maxSockets: config.upstream.maxSockets,
    ...(config.upstream.endpointUrl ? { endpointUrl: config.upstream.endpointUrl } : {}),
  });
  const registry = new ModelRegistry(config);
  // Token quotas (DynamoDB, `SLUICE_QUOTA_TABLE`) when the catalogue turns them on; usage records
  // and the audit trail always, to stdout and to `SLUICE_USAGE_STREAM` where set.
  const quota = quotaGateFromEnv(env, config, { clock: systemClock, logger });
  const { usage, audit } = usageFromEnv(env, { logger });
  const tracing = tracingFromEnv(env);
  const gateway = createApp({
    config,
    invoker,
    auth: authFromEnv(env, config.auth),
    registry,
    // With SLUICE_TRAFFIC_STATE_MACHINE_ARN, admin weight changes start the traffic-shift state
    // machine, which every environment follows through the endpoint; without it they stay here.
    traffic: trafficFromEnv(env, registry),
    logger,
    metrics,
    prometheus,
    ...(quota ? { quota } : {}),
    usage,
    audit,
    ...(tracing ? { tracer: tracing.tracer } : {}),
  });
  return { ...gateway, prometheus, usage, tracing };
};

/** The longest drain `SLUICE_DRAIN_MS` may ask for: 15 minutes, an LLM answer's worst case. */
const MAX_DRAIN_MS = 900_000;

/**
 * Where and how `npm run serve` listens: `HOST` (default `0.0.0.0`), `PORT` (default 8787, `0`
 * picks a free one) and `SLUICE_DRAIN_MS` (default 10000), how long a SIGTERM lets in-flight
 * requests run; `SLUICE_HEADERS_TIMEOUT_MS` (66000), `SLUICE_REQUEST_TIMEOUT_MS` (300000) and
 * `SLUICE_MAX_CONNECTIONS` (10000) bound what one client can hold when the gateway faces clients
 * without a load balancer. Keep the platform's grace period (Kubernetes `terminationGracePeriodSeconds`,
 * `docker stop --time`, ECS `stopTimeout`) a few seconds above it.
 * @throws ConfigError naming the variable when a value is not a whole number in range
 */
export const serveOptionsFromEnv = (
  env: NodeJS.ProcessEnv = process.env,
): Required<ServeOptions> => ({
  host: env.HOST || '0.0.0.0',
  port: wholeNumber(env, 'PORT', 8787, 65_535),
  drainMs: wholeNumber(env, 'SLUICE_DRAIN_MS', 10_000, MAX_DRAIN_MS),
  headersTimeoutMs: wholeNumber(env, 'SLUICE_HEADERS_TIMEOUT_MS', 66_000, 600_000),
  requestTimeoutMs: wholeNumber(env, 'SLUICE_REQUEST_TIMEOUT_MS', 300_000, 3_600_000),
  maxConnections: wholeNumber(env, 'SLUICE_MAX_CONNECTIONS', 10_000, 1_000_000),
});

const wholeNumber = (env: NodeJS.ProcessEnv, name: string, fallback: number, max: number) => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value > max) {
    throw new ConfigError(
      `${name} must be a whole number from 0 to ${max}, not ${JSON.stringify(raw)}; unset it for ${fallback}.`,
      name,
    );
  }
  return value;
};

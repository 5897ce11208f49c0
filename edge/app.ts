import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { randomUUID } from 'node:crypto';
import type { GatewayConfig } from '../shared/config/schema.js';
import {
  GatewayError,
  NotFoundError,
  ServiceUnavailableError,
  toGatewayError,
} from '../shared/errors.js';
import type { Scheduler } from './coalesce/scheduler.js';
import type { AuditSink } from './admin/audit.js';
import type { MetricsRenderer } from './admin/metrics-route.js';
import { usageRoute } from './admin/usage-route.js';
import type { TrafficController } from './admin/traffic.js';
import { mountIdentity } from './auth/mount.js';
import type { AuthOptions } from './auth/options.js';
import type { ModelInvoker } from './invoke/invoker.js';
import { noopMetrics, type GatewayMetrics } from './metrics/metrics.js';
import { limitBody } from './middleware/body-limit.js';
import { EndpointHealth } from './models/endpoint-health.js';
import { ModelRegistry } from './models/registry.js';
import { ModelService } from './models/service.js';
import { healthRoutes } from './routes/health.js';
import { openAIRoutes } from './routes/openai.js';
import type { QuotaGate } from './quota/gate.js';
import type { GatewayTracer } from './tracing/tracer.js';
import { Metering } from './usage/metering.js';
import type { UsageSink } from './usage/sink.js';
import { systemClock, silentLogger, type AppEnv, type Clock, type Logger } from './types.js';

/** Largest admin request body. */
const ADMIN_MAX_BODY_BYTES = 64 * 1024;

export interface AppDeps {
  config: GatewayConfig;
  invoker: ModelInvoker;
  /**
   * `jwt` (access tokens, see `authFromEnv`), `disabled` (local flag only) or `custom`; in every
   * mode the RBAC table in `edge/auth/rbac.ts` authorizes.
   */
  auth: AuthOptions;
  /** Live catalogue state; built from `config` when absent. */
  registry?: ModelRegistry;
  /** @default the system clock */
  clock?: Clock;
  /** @default a silent logger */
  logger?: Logger;
  /** @default no metrics */
  metrics?: GatewayMetrics;
  /** Where admin weight changes take effect. @default in memory (the registry) */
  traffic?: TrafficController;
  /** Renders `GET /metrics` (a `PromMetrics`). @default `metrics` when it can render */
  prometheus?: MetricsRenderer;
  /** Where admin changes are recorded, whatever the log level. @default JSON lines on stdout */
  audit?: AuditSink;
  /** Token quotas shared by the fleet (see `quotaGateFromEnv`). @default none */
  quota?: QuotaGate;
  /** Usage records, one per generation. @default none */
  usage?: UsageSink;
  /** Timers of the coalescers and retries. @default the Node process's timers */
  scheduler?: Scheduler;
  /** Jitter of retry backoffs. @default Math.random */
  random?: () => number;
  /** OpenTelemetry spans per `/v1` request and upstream call (see `tracingFromEnv`). @default none */
  tracer?: GatewayTracer;
}

export interface GatewayApp {
  app: Hono<AppEnv>;
  registry: ModelRegistry;
  service: ModelService;
}

/**
 * Builds the gateway: a runtime-agnostic Hono app (Web `Request`/`Response` only) that the
 * Node server, the Lambda handler and the tests all wrap.
 *
 * @example
 * const { app } = createApp({ config, invoker: new SageMakerInvoker(), auth: { mode: 'disabled' } });
 * const res = await app.request('/v1/models');
 */
export const createApp = (deps: AppDeps): GatewayApp => {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const metrics = deps.metrics ?? noopMetrics;
  const registry = deps.registry ?? new ModelRegistry(deps.config);
  const health = new EndpointHealth({
    invoker: deps.invoker,
    clock,
    timeoutMs: deps.config.upstream.readyTimeoutMs,
  });
  const service = new ModelService({
    registry,
    invoker: deps.invoker,
    clock,
    logger,
    metrics,
    ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.tracer ? { tracer: deps.tracer } : {}),
  });
  const app = new Hono<AppEnv>();
  const renderer =
    deps.prometheus ?? ('render' in metrics ? (metrics as MetricsRenderer) : undefined);

  // A client's id is kept when it is 1–128 characters of [A-Za-z0-9_=-]; otherwise a UUID.
  app.use(
    requestId({
      headerName: 'x-request-id',
      generator: () => randomUUID(),
      limitLength: 128,
    }),
  );
  app.use(async function accessLog(c, next) {
    const started = clock.now();
    await next();
    const latencyMs = clock.now() - started;
    const route = c.req.routePath;
    const model = c.get('model');
    metrics.request({ route, model, status: c.res.status, latencyMs });
    logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        route,
        status: c.res.status,
        latencyMs,
        subject: c.get('principal')?.subject,
      },
      'request',
    );
  });

  // Mounted only when tracing is on: off, a request pays nothing for it.
  if (deps.tracer) app.use('/v1/*', deps.tracer.middleware());
  app.use('/v1/*', limitBody(deps.config.maxBodyBytes));
  // Admin bodies are a few weights or a state: no reason to read more.
  app.use('/admin/*', limitBody(ADMIN_MAX_BODY_BYTES));
  mountIdentity(app, {
    auth: deps.auth,
    config: deps.config,
    registry,
    health,
    clock,
    logger,
    ...(deps.traffic ? { traffic: deps.traffic } : {}),
    ...(renderer ? { metrics: renderer } : {}),
    breakers: service.breakers,
    ...(deps.audit ? { audit: deps.audit } : {}),
  });
  app.route('/admin', usageRoute({ quota: deps.quota, clock }));
  const metering = new Metering({
    clock,
    quota: deps.quota,
    usage: deps.usage,
    charsPerToken: deps.config.quotas.charsPerToken,
  });

  app.route('/', healthRoutes({ registry, health }));
  app.route(
    '/v1',
    openAIRoutes({ registry, service, clock, logger, metering, tracer: deps.tracer }),
  );

  app.notFound((c) => {
    const error = new NotFoundError(`Unknown route ${c.req.method} ${c.req.path}.`, {
      code: 'unknown_route',
    });
    return c.json(error.toJSON(), 404);
  });

  app.onError((err, c) => {
    const error = toGatewayError(err);
    // The gateway's own refusals from its own state (an open circuit, a paused model: no
    // underlying failure to report) are counted in metrics and their cause logged once when it
    // changes; one line per refused request would flood the log exactly when someone reads it.
    const refusal =
      error instanceof ServiceUnavailableError &&
      error.origin === 'gateway' &&
      error.cause === undefined;
    if (error.status >= 500 && !refusal) {
      logger.error(
        {
          requestId: c.get('requestId'),
          code: error.code,
          details: error.details,
          cause: describeCause(err),
        },
        error.message,
      );
    } else if (error.details) {
      logger.warn(
        { requestId: c.get('requestId'), code: error.code, details: error.details },
        error.message,
      );
    }
    for (const [k, v] of Object.entries(error.headers())) c.header(k, v);
    // 499 is our marker for a caller that left; nobody reads this response.
    return c.json(error.toJSON(), error.status as 400);
  });

  return { app, registry, service };
};

/**
 * What the log says about the cause of a 5xx: the error's class and where it was thrown, never
 * its message. Messages of upstream errors can quote the container's input, and even a
 * `SyntaxError` from `JSON.parse` quotes the text it failed on.
 */
const describeCause = (err: unknown): string | undefined => {
  const root = err instanceof GatewayError ? err.cause : err;
  if (!(root instanceof Error)) return root === undefined ? undefined : typeof root;
  const frames = (root.stack ?? '')
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .slice(0, 3)
    .map((l) => l.trim());
  return [root.name, ...frames].join(' | ');
};

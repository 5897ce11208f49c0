import type { Hono } from 'hono';
import type { GatewayConfig } from '../../shared/config/schema.js';
import { metricsRoute, type MetricsRenderer } from '../admin/metrics-route.js';
import { adminRoutes, type AdminRoutesDeps } from '../admin/routes.js';
import { InMemoryTrafficController, type TrafficController } from '../admin/traffic.js';
import { RequestLimiter } from '../limits/limiter.js';
import { rateLimit } from '../limits/middleware.js';
import type { EndpointHealth } from '../models/endpoint-health.js';
import type { ModelRegistry } from '../models/registry.js';
import type { AppEnv, Clock, Logger } from '../types.js';
import { jwtAuth } from './jwt-auth.js';
import type { AuthOptions } from './options.js';
import { ANONYMOUS_CONSUMER } from './principal.js';
import { authorize, PROTECTED_PATHS } from './rbac.js';

export interface IdentityDeps {
  auth: AuthOptions;
  config: GatewayConfig;
  registry: ModelRegistry;
  /** Endpoint health, shared with `/readyz`. */
  health: EndpointHealth;
  clock: Clock;
  logger: Logger;
  /** @default weights held in memory by `registry` */
  traffic?: TrafficController;
  /** Renders `GET /metrics`; without one that route answers 404. */
  metrics?: MetricsRenderer;
  /** The targets' circuit breakers, for the admin API. */
  breakers?: AdminRoutesDeps['breakers'];
  /** Where admin changes are recorded. @default JSON lines on stdout */
  audit?: AdminRoutesDeps['audit'];
}

/**
 * Installs identity on the app, in this order: authentication on every protected path
 * (`/v1/*`, `/admin/*`, `/metrics`), authorization from the RBAC table, per-principal limits on
 * `/v1/*` (unless authentication is disabled), then the `/admin` and `/metrics` routes. Call it before the `/v1` routes are added.
 */
export const mountIdentity = (app: Hono<AppEnv>, deps: IdentityDeps): void => {
  const { auth } = deps;
  for (const path of PROTECTED_PATHS) {
    if (auth.mode === 'jwt') {
      app.use(
        path,
        jwtAuth({
          verifier: auth.verifier,
          ...(auth.forwardedHeader !== undefined ? { forwardedHeader: auth.forwardedHeader } : {}),
        }),
      );
    } else if (auth.mode === 'custom') {
      app.use(path, auth.authenticate);
    } else {
      const principal = auth.principal ?? ANONYMOUS_CONSUMER;
      app.use(path, async function authenticationDisabled(c, next) {
        c.set('principal', principal);
        await next();
      });
    }
    app.use(path, authorize(auth.mode === 'jwt' ? { grants: auth.verifier.grants } : {}));
  }
  // With authentication off every caller is one anonymous principal, so per-principal limits
  // would only be a global throttle on the developer's own machine.
  if (deps.config.limits.enabled && auth.mode !== 'disabled') {
    app.use('/v1/*', rateLimit({ limiter: new RequestLimiter(deps.config.limits, deps.clock) }));
  }
  app.route(
    '/admin',
    adminRoutes({
      registry: deps.registry,
      traffic: deps.traffic ?? new InMemoryTrafficController(deps.registry),
      logger: deps.logger,
      health: deps.health,
      ...(deps.breakers ? { breakers: deps.breakers } : {}),
      ...(deps.audit ? { audit: deps.audit } : {}),
    }),
  );
  app.route('/', metricsRoute(deps.metrics));
};

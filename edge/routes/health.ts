import { Hono } from 'hono';
import type { AppEnv } from '../types.js';
import { targetName, type EndpointHealth } from '../models/endpoint-health.js';
import type { ModelRegistry } from '../models/registry.js';

export interface HealthRoutesDeps {
  registry: ModelRegistry;
  /**
   * Probes each target (endpoint, and inference component where named) with a timeout, caching
   * answers (`DescribeEndpoint` and `DescribeInferenceComponent` have low quotas).
   */
  health: EndpointHealth;
}

/**
 * `GET /healthz`: the process is alive. `GET /readyz`: every endpoint (and inference component) of every model answers
 * within the timeout; otherwise 503 naming the ones that did not. No authentication: these
 * reveal endpoint names and status only, and load balancers must reach them.
 */
export const healthRoutes = (deps: HealthRoutesDeps): Hono<AppEnv> => {
  const app = new Hono<AppEnv>();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const targets = new Map(
      deps.registry.list().flatMap((m) => m.targets.map((t) => [targetName(t), t] as const)),
    );
    const names = [...targets.keys()];
    const endpoints = Object.fromEntries(
      await Promise.all(
        names.map(async (name) => [name, await deps.health.of(targets.get(name)!)] as const),
      ),
    );
    const failing = names.filter((n) => endpoints[n] !== 'ready');
    if (failing.length === 0) return c.json({ status: 'ready', endpoints });
    return c.json(
      { status: 'not_ready', message: `Targets not ready: ${failing.join(', ')}`, endpoints },
      503,
    );
  });

  return app;
};

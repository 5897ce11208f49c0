import { Hono } from 'hono';
import type { AppEnv, Clock } from '../types.js';
import type { ModelInvoker } from '../invoke/invoker.js';
import type { ModelRegistry } from '../models/registry.js';

export interface HealthRoutesDeps {
  registry: ModelRegistry;
  invoker: ModelInvoker;
  clock: Clock;
  /** How long each endpoint may take to answer. */
  readyTimeoutMs: number;
  /** How long a readiness answer is reused; `DescribeEndpoint` has a low TPS quota. @default 5000 */
  cacheMs?: number;
}

/**
 * `GET /healthz`: the process is alive. `GET /readyz`: every endpoint of every model answers
 * within the timeout; otherwise 503 naming the ones that did not. No authentication: these
 * reveal endpoint names and status only, and load balancers must reach them.
 */
export const healthRoutes = (deps: HealthRoutesDeps): Hono<AppEnv> => {
  const app = new Hono<AppEnv>();
  const cacheMs = deps.cacheMs ?? 5000;
  let cached: { at: number; result: Promise<Record<string, string>> } | undefined;

  const probe = async (): Promise<Record<string, string>> => {
    const endpoints = [
      ...new Set(deps.registry.list().flatMap((m) => m.targets.map((t) => t.endpoint))),
    ];
    const results = await Promise.all(
      endpoints.map(async (name) => {
        try {
          await deps.invoker.checkReady(name, deps.readyTimeoutMs);
          return [name, 'ready'] as const;
        } catch (err) {
          const e = err as Error;
          return [
            name,
            e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timeout' : 'unavailable',
          ] as const;
        }
      }),
    );
    return Object.fromEntries(results);
  };

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const now = deps.clock.now();
    if (!cached || now - cached.at >= cacheMs) cached = { at: now, result: probe() };
    const endpoints = await cached.result;
    const failing = Object.entries(endpoints)
      .filter(([, s]) => s !== 'ready')
      .map(([n]) => n);
    if (failing.length === 0) return c.json({ status: 'ready', endpoints });
    return c.json(
      { status: 'not_ready', message: `Endpoints not ready: ${failing.join(', ')}`, endpoints },
      503,
    );
  });

  return app;
};

import { Hono } from 'hono';
import { NotFoundError } from '../../shared/errors.js';
import type { AppEnv } from '../types.js';

/** Anything that renders the Prometheus text format (`PromMetrics`). */
export interface MetricsRenderer {
  render(): Promise<string>;
}

/**
 * `GET /metrics` in the Prometheus text format, for Viewers and above (the RBAC table says so;
 * this route assumes authorization ran). Without a renderer it answers 404.
 */
export const metricsRoute = (renderer: MetricsRenderer | undefined): Hono<AppEnv> => {
  const app = new Hono<AppEnv>();
  app.get('/metrics', async (c) => {
    if (!renderer)
      throw new NotFoundError('Prometheus metrics are not enabled.', { code: 'metrics_disabled' });
    c.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    c.header('cache-control', 'no-store');
    return c.body(await renderer.render());
  });
  return app;
};

import { Hono } from 'hono';
import { z } from 'zod';
import { InvalidRequestError, PreconditionFailedError } from '../../shared/errors.js';
import type { QuotaGate, WindowUsage } from '../quota/gate.js';
import type { AppEnv, Clock } from '../types.js';

export interface UsageRouteDeps {
  /** Absent when quotas are off: the route then answers 409 `quotas_disabled`. */
  quota: QuotaGate | undefined;
  clock: Clock;
}

/** Longest range one request may read, in days. */
const MAX_DAYS = 366;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const query = z.strictObject({
  tenant: z.string().min(1).max(256),
  /** First day, `YYYY-MM-DD` (UTC). @default today */
  from: z.string().regex(DATE, 'must be YYYY-MM-DD').optional(),
  /** Last day, inclusive. @default `from` */
  to: z.string().regex(DATE, 'must be YYYY-MM-DD').optional(),
  /** Principal classes (app client ids) to report as well, comma-separated. */
  classes: z.string().max(1024).optional(),
});

/**
 * `GET /admin/usage?tenant=…&from=…&to=…[&classes=a,b]` (Viewer): the tenant's counters from the
 * quota store, per UTC day in the range and per month that range touches, with each window's
 * limit and reset time, and the days' totals. It reads the same items the quotas enforce, so
 * it shows what the fleet has charged, reservations of running requests included.
 */
export const usageRoute = (deps: UsageRouteDeps): Hono<AppEnv> => {
  const app = new Hono<AppEnv>();
  app.get('/usage', async (c) => {
    if (!deps.quota) {
      throw new PreconditionFailedError(
        'Token quotas are off in this deployment (config quotas.enabled).',
        { status: 409, code: 'quotas_disabled' },
      );
    }
    const parsed = query.safeParse(c.req.query());
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.join('.') || undefined;
      throw new InvalidRequestError(`${param ?? 'query'}: ${issue.message}`, {
        ...(param ? { param } : {}),
      });
    }
    const today = new Date(deps.clock.now()).toISOString().slice(0, 10);
    const from = parsed.data.from ?? today;
    const to = parsed.data.to ?? from;
    const days = (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;
    if (!(days >= 1) || days > MAX_DAYS) {
      throw new InvalidRequestError(
        `'from' must not be after 'to', and the range may span at most ${MAX_DAYS} days.`,
        { param: 'to' },
      );
    }
    const classes = (parsed.data.classes ?? '').split(',').filter(Boolean).slice(0, 32);
    const { tenant } = parsed.data;
    const [dayRows, monthRows] = await Promise.all([
      deps.quota.usage(tenant, { from: `day#${from}`, to: `day#${to}` }, classes),
      deps.quota.usage(
        tenant,
        { from: `month#${from.slice(0, 7)}`, to: `month#${to.slice(0, 7)}` },
        classes,
      ),
    ]);
    const view = (key: string) => ({
      days: dayRows[key] ?? [],
      months: monthRows[key] ?? [],
      totals: totals(dayRows[key] ?? []),
    });
    return c.json({
      object: 'usage',
      tenant,
      from,
      to,
      ...view(`tenant#${tenant}`),
      classes: Object.fromEntries(classes.map((cl) => [cl, view(`class#${tenant}#${cl}`)])),
    });
  });
  return app;
};

const totals = (rows: readonly WindowUsage[]) => {
  const sum = (f: (r: WindowUsage) => number) => rows.reduce((s, r) => s + f(r), 0);
  return {
    used: sum((r) => r.used),
    reserved: sum((r) => r.reserved),
    promptTokens: sum((r) => r.promptTokens),
    completionTokens: sum((r) => r.completionTokens),
    reasoningTokens: sum((r) => r.reasoningTokens),
    requests: sum((r) => r.requests),
  };
};

import { Hono, type Context } from 'hono';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { PreconditionFailedError } from '../../shared/errors.js';
import {
  resolveWeights,
  type ModelRegistry,
  type ModelRuntime,
  type ModelState,
} from '../models/registry.js';
import { readJson } from '../middleware/json-body.js';
import type { AppEnv, Logger } from '../types.js';
import type { BreakerState } from '../coalesce/breaker.js';
import type { EndpointHealth, EndpointHealthState } from '../models/endpoint-health.js';
import type { TrafficController } from './traffic.js';
import { jsonAuditSink, type AuditSink } from './audit.js';

export interface AdminRoutesDeps {
  registry: ModelRegistry;
  traffic: TrafficController;
  logger: Logger;
  /** Where admin changes are recorded, whatever the log level. @default JSON lines on stdout */
  audit?: AuditSink;
  /** Endpoint health per target; omitted reports `unknown`. */
  health?: EndpointHealth;
  /**
   * Part of every ETag, so an ETag from another process or an earlier run (whose versions
   * restart at 1) never matches. @default random per app
   */
  instanceId?: string;
  /** Weight sets remembered per model for rollback. @default 20 */
  historySize?: number;
  /** The targets' circuit breakers (`ModelService`); omitted reports `unknown`. */
  breakers?: {
    states(modelId: string): Record<string, BreakerState>;
    reset(modelId: string): void;
  };
}

/** What the admin API shows of a model. */
export interface ModelView {
  id: string;
  kind: string;
  policy: string;
  state: ModelState;
  version: number;
  etag: string;
  traffic: string;
  targets: {
    id: string;
    endpoint: string;
    variant: string | null;
    inferenceComponent: string | null;
    weight: number;
    health: EndpointHealthState | 'unknown';
    circuit: BreakerState | 'unknown';
  }[];
}

const weightsBody = z.strictObject({
  weights: z.record(z.string().min(1).max(63), z.number().int().min(0).max(100)),
});

/**
 * The admin API, mounted at `/admin`. Authorization is the RBAC table's (`ROUTE_RULES`); this
 * router assumes it ran. Every change needs `If-Match` with the model's current ETag (or `*`
 * to overwrite knowingly), is serialised per model, and writes one record to the audit sink.
 *
 * Model ids containing `/` are sent percent-encoded (`org%2Fmodel`).
 */
export const adminRoutes = (deps: AdminRoutesDeps): Hono<AppEnv> => {
  const app = new Hono<AppEnv>();
  const instanceId = deps.instanceId ?? randomBytes(4).toString('hex');
  const historySize = deps.historySize ?? 20;
  const history = new Map<string, Record<string, number>[]>();
  const locks = new Map<string, Promise<unknown>>();

  const etagOf = (m: ModelRuntime) => `"${instanceId}-${m.version}"`;

  const view = async (m: ModelRuntime): Promise<ModelView> => {
    const circuits = deps.breakers?.states(m.config.id);
    return {
      id: m.config.id,
      kind: m.config.kind,
      policy: m.config.policy,
      state: m.state,
      version: m.version,
      etag: etagOf(m),
      traffic: deps.traffic.kind,
      targets: await Promise.all(
        m.targets.map(async (t) => ({
          id: t.id,
          endpoint: t.endpoint,
          variant: t.variant ?? null,
          inferenceComponent: t.inferenceComponent ?? null,
          weight: t.weight,
          health: deps.health ? await deps.health.of(t) : ('unknown' as const),
          circuit: circuits?.[t.id] ?? ('unknown' as const),
        })),
      ),
    };
  };

  /** Runs `fn` after every earlier change of the same model, so checks and writes do not interleave. */
  const serially = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    locks.set(id, tail);
    void tail.then(() => {
      if (locks.get(id) === tail) locks.delete(id);
    });
    return run;
  };

  /** @throws PreconditionFailedError 428 without `If-Match`, 412 when it is stale */
  const checkIfMatch = (c: Context<AppEnv>, m: ModelRuntime): void => {
    const header = c.req.header('if-match');
    if (header === undefined) {
      throw new PreconditionFailedError(
        `Send If-Match with the model's ETag (GET /admin/models/${m.config.id}), or * to overwrite.`,
        { status: 428, code: 'precondition_required' },
      );
    }
    const tags = header.split(',').map((t) => t.trim());
    if (tags.includes('*') || tags.includes(etagOf(m))) return;
    throw new PreconditionFailedError(
      `Model '${m.config.id}' changed (now ${etagOf(m)}); re-read it and retry.`,
    );
  };

  const audit = deps.audit ?? jsonAuditSink();
  const recordChange = (
    c: Context<AppEnv>,
    action: string,
    before: ModelRuntime,
    after: ModelRuntime,
    extra: Record<string, unknown> = {},
  ): void => {
    const p = c.get('principal');
    audit.write({
      requestId: c.get('requestId'),
      actor: { subject: p.subject, clientId: p.clientId ?? null, roles: p.roles },
      action,
      model: before.config.id,
      before: snapshot(before),
      after: snapshot(after),
      ...extra,
    });
  };

  const respond = async (c: Context<AppEnv>, m: ModelRuntime) => {
    c.header('etag', etagOf(m));
    return c.json(await view(m));
  };

  const changeWeights = (
    c: Context<AppEnv>,
    reason: 'set' | 'rollback',
    weightsFor: (before: ModelRuntime) => Record<string, number>,
  ) =>
    serially(c.req.param('id')!, async () => {
      const before = deps.registry.require(c.req.param('id')!);
      checkIfMatch(c, before);
      const weights = resolveWeights(before, weightsFor(before));
      const { after, executionArn } = await deps.traffic.applyWeights({
        before,
        weights,
        reason,
        requestedBy: c.get('principal').subject,
        requestId: c.get('requestId'),
      });
      if (reason === 'set') {
        const past = history.get(before.config.id) ?? [];
        past.push(weightsOf(before));
        if (past.length > historySize) past.shift();
        history.set(before.config.id, past);
      } else {
        history.get(before.config.id)?.pop();
      }
      recordChange(c, reason === 'set' ? 'weights.set' : 'weights.rollback', before, after, {
        traffic: deps.traffic.kind,
        ...(executionArn ? { executionArn } : {}),
      });
      return respond(c, after);
    });

  const changeState = (c: Context<AppEnv>, state: ModelState, action: string) =>
    serially(c.req.param('id')!, async () => {
      const before = deps.registry.require(c.req.param('id')!);
      checkIfMatch(c, before);
      // Asking for the state the model is in changes nothing, so it writes no audit line.
      if (before.state === state) return respond(c, before);
      const after = deps.registry.setState(before.config.id, state, before.version);
      recordChange(c, action, before, after);
      return respond(c, after);
    });

  app.get('/models', async (c) =>
    c.json({ object: 'list', data: await Promise.all(deps.registry.list().map(view)) }),
  );

  app.get('/models/:id', (c) => respond(c, deps.registry.require(c.req.param('id'))));

  app.put('/models/:id/weights', async (c) => {
    const body = await readJson(c, weightsBody);
    return changeWeights(c, 'set', () => body.weights);
  });

  app.post('/models/:id/rollback', (c) =>
    changeWeights(c, 'rollback', (before) => {
      const previous = history.get(before.config.id)?.at(-1);
      if (!previous) {
        throw new PreconditionFailedError(
          `Model '${before.config.id}' has no earlier weights to roll back to.`,
          { status: 409, code: 'nothing_to_roll_back' },
        );
      }
      return previous;
    }),
  );

  app.post('/models/:id/pause', (c) => changeState(c, 'paused', 'model.pause'));
  app.post('/models/:id/resume', (c) => changeState(c, 'serving', 'model.resume'));
  app.post('/models/:id/drain', (c) => changeState(c, 'draining', 'model.drain'));

  // Closing a circuit changes no model setting, so it needs no If-Match; it is audited.
  app.post('/models/:id/breakers/reset', async (c) => {
    const model = deps.registry.require(c.req.param('id'));
    if (!deps.breakers) {
      throw new PreconditionFailedError('This gateway has no circuit breakers to reset.', {
        status: 409,
        code: 'no_breakers',
      });
    }
    const before = deps.breakers.states(model.config.id);
    deps.breakers.reset(model.config.id);
    recordChange(c, 'breakers.reset', model, model, {
      circuits: { before, after: deps.breakers.states(model.config.id) },
    });
    return respond(c, model);
  });

  return app;
};

const weightsOf = (m: ModelRuntime): Record<string, number> =>
  Object.fromEntries(m.targets.map((t) => [t.id, t.weight]));

const snapshot = (m: ModelRuntime) => ({
  version: m.version,
  state: m.state,
  weights: weightsOf(m),
});

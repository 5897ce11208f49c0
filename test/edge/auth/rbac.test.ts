import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromMetrics } from '../../../edge/metrics/metrics.js';
import type { Role } from '../../../edge/auth/principal.js';
import {
  ROLE_PERMISSIONS,
  ROLES,
  ROUTE_RULES,
  ruleFor,
  type RouteRule,
} from '../../../edge/auth/rbac.js';
import { bearer, identityHarness, type IdentityHarness } from './harness.js';

let h: IdentityHarness;
beforeAll(async () => {
  h = await identityHarness();
});
afterAll(() => h.close());

/** Concrete requests for each rule of the table; `/v1/*` stands for the whole inference API. */
const requestsFor = (rule: RouteRule): { method: string; path: string; body?: unknown }[] => {
  if (rule.path === '/v1/*') {
    return [
      { method: 'GET', path: '/v1/models' },
      { method: 'GET', path: '/v1/models/chat-model' },
      {
        method: 'POST',
        path: '/v1/chat/completions',
        body: { model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] },
      },
      { method: 'POST', path: '/v1/completions', body: { model: 'text-model', prompt: 'hi' } },
      { method: 'POST', path: '/v1/embeddings', body: { model: 'embed-model', input: 'hi' } },
    ];
  }
  const path = rule.path.replace(':id', 'chat-model');
  const body = path.endsWith('/weights') ? { weights: { default: 100 } } : undefined;
  return [{ method: rule.method === '*' ? 'GET' : rule.method, path, ...(body ? { body } : {}) }];
};

const cases = ROUTE_RULES.flatMap((rule) =>
  requestsFor(rule).flatMap((req) =>
    ROLES.map((role) => ({
      rule,
      req,
      role,
      allowed: ROLE_PERMISSIONS[role].includes(rule.permission),
    })),
  ),
);

const send = async (
  req: { method: string; path: string; body?: unknown },
  headers: Record<string, string>,
) => {
  const { app } = h.app({ prometheus: new PromMetrics() });
  return app.request(req.path, {
    method: req.method,
    headers: {
      ...headers,
      'if-match': '*',
      ...(req.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(req.body ? { body: JSON.stringify(req.body) } : {}),
  });
};

describe('the RBAC matrix, generated from ROLE_PERMISSIONS × ROUTE_RULES', () => {
  it.each(cases)(
    '$req.method $req.path as $role → allowed: $allowed',
    async ({ req, role, allowed, rule }) => {
      const res = await send(req, bearer(await h.token(role)));
      if (allowed) {
        // Allowed means past authorization: success, or a refusal of the route's own (409 rollback).
        expect([200, 409], await res.clone().text()).toContain(res.status);
      } else {
        expect(res.status).toBe(403);
        const body = (await res.json()) as { error: { type: string; code: string } };
        expect(body.error).toMatchObject({ type: 'permission_error', code: 'insufficient_scope' });
        expect(res.headers.get('www-authenticate')).toMatch(
          /^Bearer realm="sluice", error="insufficient_scope"/,
        );
      }
      expect(rule.permission).toBeTruthy();
    },
  );

  it.each(ROUTE_RULES.flatMap(requestsFor))('$method $path without a token → 401', async (req) => {
    const res = await send(req, {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sluice"');
  });

  it.each(ROUTE_RULES.flatMap(requestsFor))(
    '$method $path with no role at all → 403',
    async (req) => {
      const res = await send(req, bearer(await h.token({ scopes: ['openid'] })));
      expect(res.status).toBe(403);
    },
  );

  it('has a rule for every protected route the app registers', () => {
    const { app } = h.app();
    const protectedRoutes = app.routes.filter(
      (r) => r.method !== 'ALL' && /^\/(v1|admin|metrics)(\/|$)/.test(r.path),
    );
    expect(protectedRoutes.length).toBeGreaterThan(5);
    for (const r of protectedRoutes) {
      const concrete = r.path.replace(/:[a-z]+(\{[^}]*\})?/gi, 'x');
      expect(ruleFor(ROUTE_RULES, r.method, concrete), `${r.method} ${r.path}`).toBeDefined();
    }
  });

  it('refuses an authenticated request that no rule covers', async () => {
    const res = await send(
      { method: 'DELETE', path: '/admin/models/chat-model' },
      bearer(await h.token('admin')),
    );
    expect(res.status).toBe(403);
  });

  it('grants admins every operator and viewer right, and operators every viewer right', () => {
    const includes = (a: Role, b: Role) =>
      ROLE_PERMISSIONS[b].every((p) => ROLE_PERMISSIONS[a].includes(p));
    expect(includes('admin', 'operator')).toBe(true);
    expect(includes('operator', 'viewer')).toBe(true);
    expect(ROLE_PERMISSIONS.admin).not.toContain('inference:invoke');
  });
});

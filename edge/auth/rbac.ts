import type { MiddlewareHandler } from 'hono';
import { PermissionError } from '../../shared/errors.js';
import type { AppEnv } from '../types.js';
import type { Principal, Role } from './principal.js';

/** What a request may do. Routes name one permission; roles hold a set of them. */
export type Permission =
  | 'inference:invoke'
  | 'metrics:read'
  | 'admin:read'
  | 'models:operate'
  | 'breakers:reset'
  | 'models:weights'
  | 'models:rollback';

const VIEWER: readonly Permission[] = ['metrics:read', 'admin:read'];
const OPERATOR: readonly Permission[] = [...VIEWER, 'models:operate', 'breakers:reset'];
const ADMIN: readonly Permission[] = [...OPERATOR, 'models:weights', 'models:rollback'];

/**
 * THE RBAC table: each role's rights. Admin ⊇ Operator ⊇ Viewer; consumer is separate, so an
 * administrator's token calls no model unless it also carries the consumer scope.
 *
 * | role | may |
 * | --- | --- |
 * | consumer | `/v1/*` |
 * | viewer | `GET /metrics`, read-only `/admin/*` |
 * | operator | viewer, plus drain / pause / resume a model, reset a circuit breaker |
 * | admin | operator, plus change model traffic weights and roll back |
 */
export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = Object.freeze({
  consumer: ['inference:invoke'],
  viewer: VIEWER,
  operator: OPERATOR,
  admin: ADMIN,
});

export const ROLES: readonly Role[] = ['consumer', 'viewer', 'operator', 'admin'];

/** One protected route and the permission it needs. `*` as method matches any method. */
export interface RouteRule {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | '*';
  /** Hono-style path: `:param` is one segment, a trailing `/*` any rest. */
  path: string;
  permission: Permission;
}

/**
 * Every route that needs a token, with its permission. Authorization reads this table and
 * nothing else; a protected path that no rule matches is refused (default deny), and the RBAC
 * test checks that every registered route has a rule.
 */
export const ROUTE_RULES: readonly RouteRule[] = Object.freeze([
  { method: '*', path: '/v1/*', permission: 'inference:invoke' },
  { method: 'GET', path: '/metrics', permission: 'metrics:read' },
  { method: 'GET', path: '/admin/models', permission: 'admin:read' },
  { method: 'GET', path: '/admin/models/:id', permission: 'admin:read' },
  { method: 'GET', path: '/admin/usage', permission: 'admin:read' },
  { method: 'PUT', path: '/admin/models/:id/weights', permission: 'models:weights' },
  { method: 'POST', path: '/admin/models/:id/rollback', permission: 'models:rollback' },
  { method: 'POST', path: '/admin/models/:id/pause', permission: 'models:operate' },
  { method: 'POST', path: '/admin/models/:id/resume', permission: 'models:operate' },
  { method: 'POST', path: '/admin/models/:id/drain', permission: 'models:operate' },
  { method: 'POST', path: '/admin/models/:id/breakers/reset', permission: 'breakers:reset' },
] satisfies RouteRule[]);

/** Paths that need a verified token at all; `ROUTE_RULES` then decides what each role may do. */
export const PROTECTED_PATHS = ['/v1/*', '/admin/*', '/metrics'] as const;

/** Which groups or scopes confer each role (config `auth.roles`). */
export type RoleGrants = Readonly<
  Record<Role, { readonly groups: readonly string[]; readonly scopes: readonly string[] }>
>;

/** The roles a token's scopes and groups confer. */
export const rolesFor = (
  grants: RoleGrants,
  claims: { scopes: readonly string[]; groups: readonly string[] },
): Role[] =>
  ROLES.filter(
    (role) =>
      grants[role].groups.some((g) => claims.groups.includes(g)) ||
      grants[role].scopes.some((s) => claims.scopes.includes(s)),
  );

/** Whether any of the principal's roles holds the permission. */
export const can = (principal: Principal, permission: Permission): boolean =>
  principal.roles.some((role) => ROLE_PERMISSIONS[role].includes(permission));

/** The least role that holds a permission, for the error message. */
const leastRoleFor = (permission: Permission): Role | undefined =>
  ROLES.find((role) => ROLE_PERMISSIONS[role].includes(permission));

const compile = (rule: RouteRule): ((method: string, path: string) => boolean) => {
  const source = rule.path
    .split('/')
    .map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : escapeRegex(seg)))
    .join('/')
    // `/v1/*` also covers `/v1` itself.
    .replace(/\/\.\*$/, '(?:/.*)?');
  const re = new RegExp(`^${source}/?$`);
  return (method, path) => (rule.method === '*' || rule.method === method) && re.test(path);
};

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Finds the rule for a request, treating HEAD as GET. */
export const ruleFor = (
  rules: readonly RouteRule[],
  method: string,
  path: string,
): RouteRule | undefined => {
  const m = method === 'HEAD' ? 'GET' : method;
  return rules.find((rule) => compile(rule)(m, path));
};

/**
 * Refuses a request whose principal lacks the permission its route needs (403
 * `insufficient_scope`). Runs after authentication on {@link PROTECTED_PATHS}.
 */
export const authorize = (
  options: { rules?: readonly RouteRule[]; grants?: RoleGrants } = {},
): MiddlewareHandler<AppEnv> => {
  const rules = options.rules ?? ROUTE_RULES;
  const matchers = rules.map((rule) => ({ rule, matches: compile(rule) }));
  return async function authorize(c, next) {
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const rule = matchers.find((m) => m.matches(method, c.req.path))?.rule;
    if (!rule) throw new PermissionError('No access rule permits this request.');
    const principal = c.get('principal');
    if (!principal || !can(principal, rule.permission)) {
      const role = leastRoleFor(rule.permission);
      const scope = role && options.grants?.[role].scopes[0];
      throw new PermissionError(`This request needs the ${role ?? rule.permission} role.`, scope);
    }
    await next();
  };
};

import type { JWTPayload } from 'jose';
import type { Principal } from './principal.js';
import { rolesFor, type RoleGrants } from './rbac.js';

/** How claims become a {@link Principal}. */
export interface ClaimMapping {
  /** Claim naming the tenant; the subject stands in when absent. */
  tenantClaim: string;
  /** Claim listing groups (`cognito:groups`). */
  groupsClaim: string;
  grants: RoleGrants;
}

/**
 * Builds the principal from a verified token's claims. Scopes come from `scope` (a
 * space-separated string, as Cognito writes it) or `scp` (an array, as some issuers do).
 */
export const principalFromClaims = (claims: JWTPayload, mapping: ClaimMapping): Principal => {
  const subject = String(claims.sub);
  const clientId =
    stringClaim(claims.client_id) ??
    stringClaim(claims.azp) ??
    (typeof claims.aud === 'string' ? claims.aud : undefined);
  const scopes =
    typeof claims.scope === 'string'
      ? claims.scope.split(' ').filter(Boolean)
      : stringList(claims.scp);
  const groups = stringList(claims[mapping.groupsClaim]);
  // Falling back to the subject (not the client id) keeps two users of one app client apart.
  const tenant = stringClaim(claims[mapping.tenantClaim]) ?? subject;
  return Object.freeze({
    subject,
    clientId,
    tenant,
    scopes: Object.freeze(scopes),
    groups: Object.freeze(groups),
    roles: Object.freeze(rolesFor(mapping.grants, { scopes, groups })),
    expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
  }) as Principal;
};

const stringClaim = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v : undefined;

const stringList = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

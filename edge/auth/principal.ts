/** The four roles of the gateway (see the RBAC table in `edge/auth/rbac.ts`). */
export type Role = 'consumer' | 'viewer' | 'operator' | 'admin';

/** Who is calling, as established from a verified access token. */
export interface Principal {
  /** `sub` claim; for client-credentials tokens Cognito sets it to the client id. */
  subject: string;
  /** `client_id` (Cognito) or `azp`. */
  clientId: string | undefined;
  /** Isolation boundary for de-duplication and limits. */
  tenant: string;
  scopes: readonly string[];
  groups: readonly string[];
  roles: readonly Role[];
  /** `exp` in epoch seconds, when known. */
  expiresAt?: number;
}

/**
 * The principal used when authentication is explicitly disabled (local mode flag only):
 * a consumer with no administrative rights.
 */
export const ANONYMOUS_CONSUMER: Principal = Object.freeze({
  subject: 'anonymous',
  clientId: undefined,
  tenant: 'local',
  scopes: ['inference/invoke'],
  groups: [],
  roles: ['consumer'],
}) as Principal;

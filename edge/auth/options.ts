import type { MiddlewareHandler } from 'hono';
import type { AuthConfig } from '../../shared/config/schema.js';
import type { AppEnv, Clock } from '../types.js';
import type { Principal } from './principal.js';
import { createTokenVerifier, type TokenVerifier } from './verify-token.js';

/**
 * How the app authenticates callers.
 * - `jwt`: OAuth 2.0 access tokens checked by a {@link TokenVerifier} (production, and the local
 *   stack by default).
 * - `disabled`: every caller is `principal` (default: an anonymous consumer). Only the local
 *   stack may choose it, and only behind an explicit flag.
 * - `custom`: any middleware that sets `principal` (tests of other modules, other runtimes).
 *
 * In every mode the RBAC table then decides what the principal may do.
 */
export type AuthOptions =
  | {
      mode: 'jwt';
      verifier: TokenVerifier;
      /** See `jwtAuth`. @default false (the token comes from `Authorization` only) */
      forwardedHeader?: string | false;
    }
  | { mode: 'disabled'; principal?: Principal }
  | { mode: 'custom'; authenticate: MiddlewareHandler<AppEnv> };

/** Environment variables {@link authFromEnv} reads. */
export interface AuthEnv {
  /** Exact issuer, e.g. `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf`. */
  SLUICE_AUTH_ISSUER?: string;
  /** Comma-separated app client ids whose tokens are accepted. */
  SLUICE_AUTH_CLIENT_IDS?: string;
  /** @default `${SLUICE_AUTH_ISSUER}/.well-known/jwks.json` */
  SLUICE_AUTH_JWKS_URL?: string;
  /** Header CloudFront forwards the bearer token in (deployment only). @default none */
  SLUICE_AUTH_TOKEN_HEADER?: string;
  [name: string]: string | undefined;
}

/** Start-up failure of the auth settings; the message names the variable. */
export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError';
}

/**
 * Builds `jwt` auth options from the environment, over the `auth` section of the gateway config
 * (the environment wins). Fails at start-up, never per request: a missing issuer or client list,
 * or a plain-HTTP issuer that is not on loopback, throws.
 *
 * @example
 * const { app } = createApp({ config, invoker, auth: authFromEnv(process.env, config.auth) });
 */
export const authFromEnv = (
  env: AuthEnv,
  config: Partial<AuthConfig> = {},
  options: { clock?: Clock } = {},
): Extract<AuthOptions, { mode: 'jwt' }> => {
  const issuer = nonEmpty(env.SLUICE_AUTH_ISSUER) ?? config.issuer;
  if (!issuer) {
    throw new AuthConfigError(
      'SLUICE_AUTH_ISSUER is not set: the gateway needs the exact issuer of its access tokens.',
    );
  }
  const fromEnv = nonEmpty(env.SLUICE_AUTH_CLIENT_IDS)
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const clientIds = fromEnv ?? config.clientIds ?? [];
  if (clientIds.length === 0 && (config.audiences ?? []).length === 0) {
    throw new AuthConfigError(
      'SLUICE_AUTH_CLIENT_IDS is not set: list the app client ids whose tokens are accepted.',
    );
  }
  const jwksUrl = nonEmpty(env.SLUICE_AUTH_JWKS_URL) ?? config.jwksUrl;
  requireSecureUrl('SLUICE_AUTH_ISSUER', issuer);
  if (jwksUrl) requireSecureUrl('SLUICE_AUTH_JWKS_URL', jwksUrl);
  const verifier = createTokenVerifier({
    ...config,
    issuer,
    clientIds,
    ...(jwksUrl ? { jwksUrl } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return {
    mode: 'jwt',
    verifier,
    forwardedHeader:
      forwardedHeader(env.SLUICE_AUTH_TOKEN_HEADER) ?? config.forwardedHeader ?? false,
  };
};

/**
 * `SLUICE_AUTH_TOKEN_HEADER` names the header a CloudFront viewer-request function copies the
 * viewer's bearer token into (origin access control signs `Authorization` itself). Only the
 * deployment behind CloudFront sets it; elsewhere the token comes from `Authorization` alone,
 * so no client can route around a WAF rate rule keyed on that header.
 */
const forwardedHeader = (value: string | undefined): string | undefined => {
  const name = nonEmpty(value)?.toLowerCase();
  if (name === undefined) return undefined;
  if (!/^[a-z0-9-]{1,64}$/.test(name) || name === 'authorization') {
    throw new AuthConfigError(
      `SLUICE_AUTH_TOKEN_HEADER must be a header name other than authorization, got '${name}'.`,
    );
  }
  return name;
};

const nonEmpty = (v: string | undefined): string | undefined =>
  v !== undefined && v.trim() !== '' ? v.trim() : undefined;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Keys fetched over plain HTTP could be swapped in transit; only loopback may skip TLS. */
const requireSecureUrl = (name: string, value: string): void => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigError(`${name} is not a URL: ${value}`);
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return;
  throw new AuthConfigError(`${name} must be an https URL (plain http only on loopback).`);
};

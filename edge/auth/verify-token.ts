import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { z } from 'zod';
import { authSchema, type AuthConfig } from '../../shared/config/schema.js';
import { AuthenticationError, ServiceUnavailableError } from '../../shared/errors.js';
import { systemClock, type Clock } from '../types.js';
import { principalFromClaims } from './claims.js';
import type { Principal } from './principal.js';
import type { RoleGrants } from './rbac.js';
import { VerifiedTokenCache } from './token-cache.js';

/** Checks a bearer token and says who sent it. */
export interface TokenVerifier {
  /**
   * @throws AuthenticationError (401 `invalid_token`) for any token it does not accept
   * @throws ServiceUnavailableError (503) when the issuer's keys cannot be fetched
   */
  verify(token: string): Promise<Principal>;
  /** Realm for `WWW-Authenticate`. */
  readonly realm: string;
  /** Which groups and scopes confer each role. */
  readonly grants: RoleGrants;
}

export type TokenVerifierOptions = z.input<typeof authSchema> & {
  /** Exact `iss`; required. */
  issuer: string;
  /** Key resolver used instead of the remote JWKS (tests, or keys pinned in config). */
  keys?: JWTVerifyGetKey;
  /** `fetch` used for the JWKS. @default globalThis.fetch */
  fetch?: FetchImplementation;
  /** @default the system clock */
  clock?: Clock;
};

/** `header.payload.signature`, each non-empty base64url: anything else is refused unparsed. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** `typ` values an access token may carry (RFC 9068 `at+jwt`, or the generic `JWT`). */
const ACCEPTED_TYP = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);

/** Header parameters that point at keys elsewhere; we never follow them, so we refuse them. */
const KEY_REFERENCE_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

const invalid = (description: string, cause?: unknown): AuthenticationError =>
  new AuthenticationError(description, {
    bearerError: 'invalid_token',
    ...(cause === undefined ? {} : { cause }),
  });

/**
 * Builds the resource server's token check: RS256/ES256 only, the exact issuer, an allowed
 * `client_id` or `aud`, `token_use: access`, `exp` required, `nbf`/`iat` with bounded skew, at
 * most 2 hours of lifetime, `typ` checked where present, no `crit` it does not know, no key
 * references followed, and nothing over 8 KiB parsed. Keys come from the issuer's JWKS; an
 * unknown `kid` refetches it at most once per cooldown. Verified tokens are cached until they
 * expire.
 *
 * @example
 * const verifier = createTokenVerifier({ issuer, clientIds: ['abc123'] });
 * const principal = await verifier.verify(token);
 */
export const createTokenVerifier = (options: TokenVerifierOptions): TokenVerifier => {
  const { keys, fetch, clock: clockOption, ...config } = options;
  const settings: AuthConfig = authSchema.parse(config);
  const issuer = settings.issuer;
  if (!issuer) throw new Error('auth: an issuer is required.');
  const accepted = new Set([...settings.clientIds, ...settings.audiences]);
  if (accepted.size === 0) throw new Error('auth: at least one client id or audience is required.');
  const clock = clockOption ?? systemClock;
  const jwksUrl = new URL(settings.jwksUrl ?? `${issuer.replace(/\/$/, '')}/.well-known/jwks.json`);
  const getKey: JWTVerifyGetKey =
    keys ??
    createRemoteJWKSet(jwksUrl, {
      cooldownDuration: settings.jwksCooldownMs,
      cacheMaxAge: settings.jwksCacheMaxAgeMs,
      timeoutDuration: settings.jwksTimeoutMs,
      ...(fetch ? { [customFetch]: fetch } : {}),
    });
  const cache = new VerifiedTokenCache<Principal>({
    maxEntries: settings.cacheMaxEntries,
    clock,
  });
  const skew = settings.clockSkewSeconds;
  const mapping = {
    tenantClaim: settings.tenantClaim,
    groupsClaim: settings.groupsClaim,
    grants: settings.roles,
  };

  const checkHeader = (token: string): void => {
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>;
    } catch (cause) {
      throw invalid('The access token is malformed.', cause);
    }
    for (const name of KEY_REFERENCE_HEADERS) {
      if (name in header) throw invalid(`The token header parameter "${name}" is not accepted.`);
    }
    if (typeof header.alg !== 'string' || !settings.algorithms.includes(header.alg as 'RS256')) {
      throw invalid('The token signing algorithm is not accepted.');
    }
    if (
      'typ' in header &&
      (typeof header.typ !== 'string' || !ACCEPTED_TYP.has(header.typ.toLowerCase()))
    ) {
      throw invalid('The token type is not accepted.');
    }
  };

  const checkClaims = (claims: JWTPayload): void => {
    const now = Math.floor(clock.now() / 1000);
    const exp = claims.exp as number;
    if (claims.iat !== undefined && claims.iat > now + skew) {
      throw invalid('The token was issued in the future.');
    }
    const start = claims.iat ?? claims.nbf ?? now;
    if (
      exp - start > settings.maxLifetimeSeconds ||
      exp - now > settings.maxLifetimeSeconds + skew
    ) {
      throw invalid('The token lifetime exceeds the accepted maximum.');
    }
    const tokenUse = claims.token_use;
    if (tokenUse !== undefined ? tokenUse !== 'access' : settings.requireTokenUse) {
      throw invalid('The token is not an access token.');
    }
    if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
      throw invalid('The token has no subject.');
    }
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    const clientId = typeof claims.client_id === 'string' ? claims.client_id : undefined;
    if (
      !(clientId !== undefined && accepted.has(clientId)) &&
      !audiences.some((a) => accepted.has(a))
    ) {
      throw invalid('The token was not issued for this API.');
    }
  };

  return {
    realm: settings.realm,
    grants: settings.roles,
    async verify(token) {
      if (token.length > settings.maxTokenBytes) throw invalid('The access token is too large.');
      if (!COMPACT_JWS.test(token)) throw invalid('The access token is malformed.');
      const cached = cache.get(token);
      if (cached) return cached;
      checkHeader(token);
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, getKey, {
          algorithms: settings.algorithms,
          issuer,
          clockTolerance: skew,
          requiredClaims: ['exp'],
          currentDate: new Date(clock.now()),
        }));
      } catch (err) {
        throw mapJoseError(err);
      }
      checkClaims(claims);
      const principal = principalFromClaims(claims, mapping);
      cache.set(token, principal, (claims.exp as number) * 1000);
      return principal;
    },
  };
};

/** Turns a jose failure into a safe 401, or a 503 when the fault is reaching the issuer. */
const mapJoseError = (err: unknown): Error => {
  if (!(err instanceof errors.JOSEError)) {
    // Not a verdict on the token: the JWKS fetch failed (network, DNS, refused).
    return new ServiceUnavailableError('Access tokens cannot be verified right now.', 5, {
      code: 'jwks_unavailable',
      cause: err,
    });
  }
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return invalid('The access token has expired.', err);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (err as errors.JWTClaimValidationFailed).claim;
      if (claim === 'nbf') return invalid('The access token is not valid yet.', err);
      if (claim === 'iss') return invalid('The token issuer is not trusted.', err);
      return invalid(`The token claim "${claim}" is invalid.`, err);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return invalid('The token signature is invalid.', err);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return invalid('The token signing algorithm is not accepted.', err);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return invalid('The token signing key is unknown.', err);
    case 'ERR_JOSE_NOT_SUPPORTED':
      return invalid('The token uses a header feature this server does not support.', err);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JOSE_GENERIC':
      // jose's own JWKS fetch failures (timeout, non-200, not JSON) use these codes.
      return new ServiceUnavailableError('Access tokens cannot be verified right now.', 5, {
        code: 'jwks_unavailable',
        cause: err,
      });
    default:
      return invalid('The access token is invalid.', err);
  }
};

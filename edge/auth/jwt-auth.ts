import type { MiddlewareHandler } from 'hono';
import { AuthenticationError } from '../../shared/errors.js';
import type { AppEnv } from '../types.js';
import type { TokenVerifier } from './verify-token.js';

/** `Bearer <token68>` (RFC 6750 §2.1); the scheme name is case-insensitive. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Authenticates a request from its `Authorization: Bearer` header (or the same value forwarded
 * past CloudFront in `forwardedHeader`) and sets `principal`.
 * Tokens anywhere else (query string, form body) are never read; a query-string token is
 * refused outright, so that clients learn to stop leaking tokens into URLs and logs.
 *
 * @example
 * app.use('/v1/*', jwtAuth({ verifier: createTokenVerifier({ issuer, clientIds }) }));
 */
export const jwtAuth = (options: {
  verifier: TokenVerifier;
  /**
   * Read before `Authorization` when present: behind CloudFront OAC the SigV4 signature takes
   * `Authorization`, and a viewer-request function copies the viewer's value here (deleting
   * any the client sent). `false` reads `Authorization` only. @default false
   */
  forwardedHeader?: string | false;
}): MiddlewareHandler<AppEnv> => {
  const { verifier } = options;
  const realm = verifier.realm;
  const forwarded = options.forwardedHeader ?? false;
  return async function jwtAuth(c, next) {
    if (new URL(c.req.url).searchParams.has('access_token')) {
      throw new AuthenticationError(
        'Send the access token in the Authorization header, never in the URL.',
        { bearerError: 'invalid_request', realm },
      );
    }
    const header =
      (forwarded ? c.req.header(forwarded) : undefined) ?? c.req.header('authorization');
    if (header === undefined || !/^bearer(\s|$)/i.test(header)) {
      // No bearer credentials at all: RFC 6750 §3.1 says answer with the realm, no error code.
      throw new AuthenticationError(
        'An access token is required: send Authorization: Bearer <token>.',
        { realm },
      );
    }
    const match = BEARER.exec(header);
    if (!match) {
      throw new AuthenticationError('The Authorization header is malformed.', {
        bearerError: 'invalid_request',
        realm,
      });
    }
    c.set('principal', await verifier.verify(match[1]!));
    await next();
  };
};

import { bodyLimit } from 'hono/body-limit';
import { Hono, type Context } from 'hono';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { redirectAllowed, type DevClient, type DevUserConfig } from './clients.js';

/** Authorization codes waiting to be redeemed, at most. */
const MAX_PENDING_CODES = 1000;
/** A token request is a few form fields. */
const MAX_TOKEN_REQUEST_BYTES = 8 * 1024;

export interface IssuerAppOptions {
  /** The exact `iss` of every token, the URL the app is served at. */
  issuerUrl: string;
  signingKey: { kid: string; privateKey: CryptoKey; publicJwk: JWK };
  clients: readonly DevClient[];
  user: DevUserConfig;
  /** @default 7200 */
  tokenLifetimeSeconds?: number;
  /** @default Date.now */
  now?: () => number;
}

/** An authorization code waiting for its token request. */
interface PendingCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scopes: string[];
  expiresAt: number;
}

const CODE_LIFETIME_MS = 5 * 60_000;
/** RFC 7636 §4.1: 43–128 characters of the unreserved set. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The local OAuth 2.0 / OIDC issuer, shaped like Cognito's hosted endpoints: discovery, JWKS,
 * `/oauth2/token` (client credentials with HTTP Basic; authorization code with PKCE S256) and
 * a minimal `/oauth2/authorize` that signs in the configured development user without a page.
 */
export const createIssuerApp = (options: IssuerAppOptions): Hono => {
  const app = new Hono();
  const iss = options.issuerUrl;
  const lifetime = options.tokenLifetimeSeconds ?? 7200;
  const now = options.now ?? Date.now;
  const clients = new Map(options.clients.map((c) => [c.clientId, c]));
  const codes = new Map<string, PendingCode>();

  const sign = (claims: JWTPayload) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: options.signingKey.kid })
      .sign(options.signingKey.privateKey);

  const times = () => {
    const iat = Math.floor(now() / 1000);
    return { auth_time: iat, iat, exp: iat + lifetime };
  };

  app.get('/.well-known/openid-configuration', (c) =>
    c.json({
      issuer: iss,
      authorization_endpoint: `${iss}/oauth2/authorize`,
      token_endpoint: `${iss}/oauth2/token`,
      jwks_uri: `${iss}/.well-known/jwks.json`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'client_credentials'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'none'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: [...new Set(options.clients.flatMap((cl) => cl.scopes))],
    }),
  );

  app.get('/.well-known/jwks.json', (c) =>
    c.json({
      keys: [
        { ...options.signingKey.publicJwk, kid: options.signingKey.kid, alg: 'RS256', use: 'sig' },
      ],
    }),
  );

  app.get('/oauth2/authorize', (c) => {
    const q = c.req.query();
    const client = clients.get(q.client_id ?? '');
    // Without a known client and a registered redirect URI there is nowhere safe to send errors.
    if (!client || !client.grants.includes('authorization_code'))
      return oauthError(c, 400, 'invalid_client');
    if (!q.redirect_uri || !redirectAllowed(client, q.redirect_uri)) {
      return oauthError(
        c,
        400,
        'invalid_request',
        'redirect_uri is not registered for this client.',
      );
    }
    const back = (params: Record<string, string>) => {
      const url = new URL(q.redirect_uri!);
      for (const [k, v] of Object.entries({ ...params, ...(q.state ? { state: q.state } : {}) })) {
        url.searchParams.set(k, v);
      }
      return c.redirect(url.toString(), 302);
    };
    if (q.response_type !== 'code') return back({ error: 'unsupported_response_type' });
    if (q.code_challenge_method !== 'S256' || !CHALLENGE.test(q.code_challenge ?? '')) {
      return back({ error: 'invalid_request', error_description: 'PKCE with S256 is required.' });
    }
    const asked = (q.scope ?? client.scopes.join(' ')).split(' ').filter(Boolean);
    if (asked.some((s) => !client.scopes.includes(s))) return back({ error: 'invalid_scope' });
    for (const [k, p] of codes) if (p.expiresAt <= now()) codes.delete(k);
    // Bounded even on loopback: the oldest pending code goes first.
    if (codes.size >= MAX_PENDING_CODES) codes.delete(codes.keys().next().value!);
    const code = randomBytes(32).toString('base64url');
    codes.set(code, {
      clientId: client.clientId,
      redirectUri: q.redirect_uri,
      challenge: q.code_challenge!,
      scopes: asked,
      expiresAt: now() + CODE_LIFETIME_MS,
    });
    return back({ code });
  });

  app.use(
    '/oauth2/token',
    bodyLimit({
      maxSize: MAX_TOKEN_REQUEST_BYTES,
      onError: (c) => oauthError(c, 413, 'invalid_request', 'The request body is too large.'),
    }),
  );
  app.post('/oauth2/token', async (c) => {
    c.header('cache-control', 'no-store');
    if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('content-type') ?? '')) {
      return oauthError(c, 400, 'invalid_request', 'Use application/x-www-form-urlencoded.');
    }
    const form = new URLSearchParams(await c.req.text());
    const basic = parseBasic(c.req.header('authorization'));
    const grant = form.get('grant_type');

    if (grant === 'client_credentials') {
      const client = basic && clients.get(basic.id);
      if (!client || !client.clientSecret || !secretEquals(client.clientSecret, basic.secret)) {
        c.header('www-authenticate', 'Basic realm="sluice-local-issuer"');
        return oauthError(c, 401, 'invalid_client');
      }
      if (!client.grants.includes('client_credentials'))
        return oauthError(c, 400, 'unauthorized_client');
      const asked = form.get('scope')?.split(' ').filter(Boolean) ?? client.scopes;
      if (asked.some((s) => !client.scopes.includes(s))) return oauthError(c, 400, 'invalid_scope');
      const access = await sign({
        sub: client.clientId,
        token_use: 'access',
        scope: asked.join(' '),
        ...times(),
        iss,
        version: 2,
        jti: randomUUID(),
        client_id: client.clientId,
      });
      return c.json({ access_token: access, expires_in: lifetime, token_type: 'Bearer' });
    }

    if (grant === 'authorization_code') {
      const clientId = basic?.id ?? form.get('client_id') ?? '';
      const client = clients.get(clientId);
      const authenticated =
        client &&
        (client.public
          ? !basic
          : !!basic && !!client.clientSecret && secretEquals(client.clientSecret, basic.secret));
      if (!client || !authenticated) return oauthError(c, 401, 'invalid_client');
      const code = form.get('code') ?? '';
      const pending = codes.get(code);
      // Single use: a code is spent by its first redemption, right or wrong.
      codes.delete(code);
      const verifier = form.get('code_verifier') ?? '';
      if (
        !pending ||
        pending.expiresAt <= now() ||
        pending.clientId !== client.clientId ||
        pending.redirectUri !== form.get('redirect_uri') ||
        !VERIFIER.test(verifier) ||
        s256(verifier) !== pending.challenge
      ) {
        return oauthError(c, 400, 'invalid_grant');
      }
      const user = options.user;
      const t = times();
      const origin = randomUUID();
      const [access, id] = await Promise.all([
        sign({
          sub: user.sub,
          'cognito:groups': user.groups,
          iss,
          version: 2,
          client_id: client.clientId,
          origin_jti: origin,
          token_use: 'access',
          scope: pending.scopes.join(' '),
          ...t,
          jti: randomUUID(),
          username: user.username,
        }),
        sign({
          sub: user.sub,
          'cognito:groups': user.groups,
          iss,
          'cognito:username': user.username,
          origin_jti: origin,
          aud: client.clientId,
          token_use: 'id',
          ...t,
          jti: randomUUID(),
          ...(user.email ? { email: user.email, email_verified: true } : {}),
        }),
      ]);
      return c.json({
        access_token: access,
        id_token: id,
        expires_in: lifetime,
        token_type: 'Bearer',
      });
    }

    return oauthError(c, 400, 'unsupported_grant_type');
  });

  return app;
};

/** RFC 6749 §5.2 error body. */
const oauthError = (c: Context, status: 400 | 401 | 413, error: string, description?: string) =>
  c.json({ error, ...(description ? { error_description: description } : {}) }, status);

/** `Basic base64(urlencode(id):urlencode(secret))`, RFC 6749 §2.3.1. */
const parseBasic = (header: string | undefined): { id: string; secret: string } | undefined => {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, i)),
      secret: decodeURIComponent(decoded.slice(i + 1)),
    };
  } catch {
    return undefined;
  }
};

/** Constant-time comparison of two secrets of any length (hashing evens the lengths). */
const secretEquals = (a: string, b: string): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** PKCE S256: base64url(SHA-256(verifier)). */
export const s256 = (verifier: string): string =>
  createHash('sha256').update(verifier).digest('base64url');

import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, type TokenVerifier } from '../../../edge/auth/verify-token.js';
import { AuthenticationError } from '../../../shared/errors.js';
import {
  accessClaims,
  b64,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
  type TestKey,
} from './fixtures.js';

let jwks: LoopbackServer;
let trap: LoopbackServer;
let rsa: TestKey;
let ec: TestKey;
let stranger: TestKey;
let issuer: string;
let verifier: TokenVerifier;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  [rsa, ec, stranger] = await Promise.all([makeKey('RS256'), makeKey('ES256'), makeKey('RS256')]);
  jwks = await serveJwks([rsa.jwk, ec.jwk]);
  trap = await serveJwks([stranger.jwk]);
  issuer = `${jwks.url}/pool`;
  verifier = createTokenVerifier({
    issuer,
    clientIds: [CLIENT_ID],
    jwksUrl: `${jwks.url}/jwks.json`,
    // The cache would hide a second verification of the same token from these tests.
    cacheMaxEntries: 0,
  });
});
afterAll(async () => {
  await Promise.all([jwks.close(), trap.close()]);
});

const claims = (overrides: JWTPayload = {}): JWTPayload => ({
  ...accessClaims(issuer, now()),
  ...overrides,
});

/** Expects a 401 `invalid_token` whose description matches. */
const rejects = async (token: string, description: RegExp): Promise<void> => {
  const err = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  const auth = err as AuthenticationError;
  expect(auth.status).toBe(401);
  expect(auth.bearerError).toBe('invalid_token');
  expect(auth.message).toMatch(description);
  expect(auth.headers()['www-authenticate']).toMatch(
    /^Bearer realm="sluice", error="invalid_token"/,
  );
};

describe('accepts', () => {
  it('accepts an RS256 Cognito access token and maps its claims', async () => {
    const principal = await verifier.verify(
      await sign(rsa, claims({ 'cognito:groups': ['Admin'] })),
    );
    expect(principal).toMatchObject({
      subject: CLIENT_ID,
      clientId: CLIENT_ID,
      tenant: CLIENT_ID,
      scopes: ['inference/invoke'],
      groups: ['Admin'],
      roles: ['consumer', 'admin'],
    });
  });

  it('accepts an ES256 token', async () => {
    await expect(verifier.verify(await sign(ec, claims()))).resolves.toMatchObject({
      subject: CLIENT_ID,
    });
  });

  it('accepts typ at+jwt and JWT', async () => {
    await verifier.verify(await sign(rsa, claims(), { typ: 'at+jwt' }));
    await verifier.verify(await sign(rsa, claims(), { typ: 'JWT' }));
  });

  it('accepts nbf and iat up to 60 seconds ahead of its clock', async () => {
    const t = now();
    await verifier.verify(await sign(rsa, claims({ nbf: t + 55, iat: t + 55, exp: t + 3600 })));
  });

  it('accepts a token whose aud, not client_id, is an allowed client', async () => {
    const { client_id: _c, ...rest } = claims();
    await verifier.verify(await sign(rsa, { ...rest, aud: CLIENT_ID }));
  });

  it('takes the tenant from the configured claim', async () => {
    const p = await verifier.verify(await sign(rsa, claims({ 'custom:tenant': 'acme' })));
    expect(p.tenant).toBe('acme');
  });
});

describe('rejects', () => {
  it('rejects alg none', async () => {
    const body = b64(claims());
    await rejects(`${b64({ alg: 'none' })}.${body}.`, /malformed/);
    await rejects(`${b64({ alg: 'none' })}.${body}.${b64('x')}`, /algorithm/);
  });

  it('rejects a token signed with HS256 using the RSA public key as the secret', async () => {
    const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(secret);
    await rejects(token, /algorithm/);
  });

  it('rejects an algorithm outside the allowlist even when the JWKS holds its key', async () => {
    for (const alg of ['RS384', 'PS256', 'ES384'] as const) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const kid = `extra-${alg}`;
      jwks.keys = [...jwks.keys, { ...(await exportJWK(publicKey)), kid, alg }];
      const token = await new SignJWT(claims()).setProtectedHeader({ alg, kid }).sign(privateKey);
      await rejects(token, /algorithm/);
    }
  });

  it('rejects an expired token', async () => {
    const t = now();
    await rejects(await sign(rsa, claims({ iat: t - 7000, exp: t - 61 })), /expired/);
  });

  it('rejects a token without exp', async () => {
    const { exp: _e, ...rest } = claims();
    await rejects(await sign(rsa, rest), /"exp"/);
  });

  it('rejects nbf in the future beyond the skew', async () => {
    await rejects(await sign(rsa, claims({ nbf: now() + 120 })), /not valid yet/);
  });

  it('rejects iat in the future beyond the skew', async () => {
    const t = now();
    await rejects(await sign(rsa, claims({ iat: t + 120, exp: t + 3600 })), /future/);
  });

  it('rejects a lifetime over two hours', async () => {
    const t = now();
    await rejects(await sign(rsa, claims({ iat: t, exp: t + 7201 })), /lifetime/);
    const { iat: _i, ...noIat } = claims({ exp: t + 7300 });
    await rejects(await sign(rsa, noIat), /lifetime/);
  });

  it('rejects a wrong issuer, including a prefix or a trailing slash', async () => {
    await rejects(await sign(rsa, claims({ iss: 'https://evil.example/pool' })), /issuer/);
    await rejects(await sign(rsa, claims({ iss: `${issuer}/` })), /issuer/);
    await rejects(await sign(rsa, claims({ iss: issuer.slice(0, -1) })), /issuer/);
  });

  it('rejects a wrong client_id or aud', async () => {
    await rejects(await sign(rsa, claims({ client_id: 'other' })), /not issued for this API/);
    const { client_id: _c, ...rest } = claims();
    await rejects(await sign(rsa, { ...rest, aud: ['other'] }), /not issued for this API/);
  });

  it('rejects an ID token where an access token is required', async () => {
    const { client_id: _c, scope: _s, ...rest } = claims();
    const id = { ...rest, aud: CLIENT_ID, token_use: 'id', email: 'dev@example.com' };
    await rejects(await sign(rsa, id), /not an access token/);
    const { token_use: _t, ...noUse } = claims();
    await rejects(await sign(rsa, noUse), /not an access token/);
  });

  it('rejects a tampered payload', async () => {
    const [h, , s] = (await sign(rsa, claims())).split('.');
    const forged = b64(claims({ 'cognito:groups': ['Admin'] }));
    await rejects(`${h}.${forged}.${s}`, /signature/);
  });

  it('rejects a tampered signature', async () => {
    const [h, p, s] = (await sign(rsa, claims())).split('.') as [string, string, string];
    const i = Math.floor(s.length / 2);
    const flipped = s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    await rejects(`${h}.${p}.${flipped}`, /signature/);
  });

  it('rejects an unknown kid', async () => {
    await rejects(await sign(stranger, claims()), /key is unknown/);
  });

  it('rejects an unknown crit header', async () => {
    const token = await sign(
      rsa,
      claims(),
      { crit: ['x-custom'], 'x-custom': 1 },
      { 'x-custom': true },
    );
    await rejects(token, /not support/);
  });

  it('rejects jku and x5u headers and never fetches them', async () => {
    const before = trap.hits.length;
    await rejects(await sign(stranger, claims(), { jku: `${trap.url}/jwks.json` }), /"jku"/);
    await rejects(await sign(rsa, claims(), { jku: `${trap.url}/jwks.json` }), /"jku"/);
    await rejects(await sign(rsa, claims(), { x5u: `${trap.url}/cert.pem` }), /"x5u"/);
    await rejects(await sign(rsa, claims(), { jwk: stranger.jwk }), /"jwk"/);
    expect(trap.hits.length).toBe(before);
  });

  it('rejects an unexpected typ', async () => {
    await rejects(await sign(rsa, claims(), { typ: 'id+jwt' }), /type/);
  });

  it('rejects a token over 8 KiB before parsing it', async () => {
    const fresh = await serveJwks([rsa.jwk]);
    const v = createTokenVerifier({
      issuer,
      clientIds: [CLIENT_ID],
      jwksUrl: `${fresh.url}/jwks.json`,
    });
    const big = await sign(rsa, claims({ pad: 'x'.repeat(8200) }));
    await expect(v.verify(big)).rejects.toThrow(/too large/);
    // Not even the JWKS was fetched: the size check comes before any parsing.
    expect(fresh.hits).toEqual([]);
    await fresh.close();
  });

  it('rejects malformed base64 and non-JSON segments', async () => {
    await rejects('abc.d*f.ghi', /malformed/);
    await rejects('eyJhbGciOi.eyJzdWIiOi.c2ln', /malformed/);
    await rejects(`${b64('not json')}.${b64(claims())}.c2ln`, /malformed/);
    await rejects('only.two', /malformed/);
  });
});

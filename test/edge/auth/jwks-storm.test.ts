import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../../edge/auth/verify-token.js';
import { AuthenticationError } from '../../../shared/errors.js';
import {
  accessClaims,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
} from './fixtures.js';

let servers: LoopbackServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

const now = () => Math.floor(Date.now() / 1000);

describe('JWKS fetching', () => {
  it('fetches the JWKS at most once per cooldown for 1,000 tokens with random kids', async () => {
    const [good, forger] = await Promise.all([makeKey(), makeKey()]);
    const jwks = await serveJwks([good.jwk]);
    servers.push(jwks);
    const issuer = `${jwks.url}/pool`;
    const verifier = createTokenVerifier({
      issuer,
      clientIds: [CLIENT_ID],
      jwksUrl: `${jwks.url}/jwks.json`,
      jwksCooldownMs: 60_000,
    });
    const claims = accessClaims(issuer, now());
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, () => sign({ ...forger, kid: crypto.randomUUID() }, claims)),
    );
    // Half at once, half one after the other: neither a burst nor a trickle refetches.
    const burst = await Promise.allSettled(tokens.slice(0, 500).map((t) => verifier.verify(t)));
    for (const t of tokens.slice(500)) await verifier.verify(t).catch(() => undefined);
    expect(
      burst.every((r) => r.status === 'rejected' && r.reason instanceof AuthenticationError),
    ).toBe(true);
    expect(jwks.hits).toEqual(['/jwks.json']);
    // The legitimate key still verifies without another fetch.
    await verifier.verify(await sign(good, claims));
    expect(jwks.hits).toHaveLength(1);
  });

  it('refetches once after the cooldown and picks up a rotated key', async () => {
    const [oldKey, newKey] = await Promise.all([makeKey(), makeKey('ES256')]);
    const jwks = await serveJwks([oldKey.jwk]);
    servers.push(jwks);
    const issuer = `${jwks.url}/pool`;
    const verifier = createTokenVerifier({
      issuer,
      clientIds: [CLIENT_ID],
      jwksUrl: `${jwks.url}/jwks.json`,
      jwksCooldownMs: 1000,
    });
    const claims = accessClaims(issuer, now());
    await verifier.verify(await sign(oldKey, claims));
    jwks.keys = [oldKey.jwk, newKey.jwk];
    const rotated = await sign(newKey, claims);
    await expect(verifier.verify(rotated)).rejects.toThrow(/unknown/);
    expect(jwks.hits).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    await Promise.all([verifier.verify(rotated), verifier.verify(rotated)]);
    expect(jwks.hits).toHaveLength(2);
  });

  it('answers 503, not 401, when the JWKS cannot be fetched', async () => {
    const key = await makeKey();
    const verifier = createTokenVerifier({
      issuer: 'http://127.0.0.1:9/pool',
      clientIds: [CLIENT_ID],
      jwksTimeoutMs: 500,
    });
    const err = await verifier
      .verify(await sign(key, accessClaims('http://127.0.0.1:9/pool', now())))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'jwks_unavailable' });
  });
});

describe('verified-token cache', () => {
  const counting = async () => {
    const key = await makeKey();
    const local = createLocalJWKSet({ keys: [key.jwk] });
    const calls = { n: 0 };
    const keys: JWTVerifyGetKey = (h, t) => {
      calls.n++;
      return local(h, t);
    };
    return { key, keys, calls };
  };

  it('verifies a repeated token once', async () => {
    const { key, keys, calls } = await counting();
    const verifier = createTokenVerifier({
      issuer: 'https://issuer.test',
      clientIds: [CLIENT_ID],
      keys,
    });
    const token = await sign(key, accessClaims('https://issuer.test', now()));
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toBe(first);
    expect(calls.n).toBe(1);
  });

  it('lets an entry expire with its token', async () => {
    const { key, keys, calls } = await counting();
    let t = Date.now();
    const clock = { now: () => t };
    const verifier = createTokenVerifier({
      issuer: 'https://issuer.test',
      clientIds: [CLIENT_ID],
      keys,
      clock,
    });
    const s = Math.floor(t / 1000);
    const token = await sign(key, { ...accessClaims('https://issuer.test', s), exp: s + 120 });
    await verifier.verify(token);
    t += 119_000;
    await verifier.verify(token);
    expect(calls.n).toBe(1);
    t += 2_000;
    // Past exp, the cache no longer answers; jose then refuses it within the skew window only.
    await verifier.verify(token);
    expect(calls.n).toBe(2);
    t += 60_000;
    await expect(verifier.verify(token)).rejects.toThrow(/expired/);
  });

  it('holds at most cacheMaxEntries tokens', async () => {
    const { key, keys, calls } = await counting();
    const verifier = createTokenVerifier({
      issuer: 'https://issuer.test',
      clientIds: [CLIENT_ID],
      keys,
      cacheMaxEntries: 2,
    });
    const claims = accessClaims('https://issuer.test', now());
    const [a, b, c] = await Promise.all(
      [1, 2, 3].map((i) => sign(key, { ...claims, jti: `j${i}` })),
    );
    for (const t of [a!, b!, c!]) await verifier.verify(t);
    expect(calls.n).toBe(3);
    await verifier.verify(c!);
    await verifier.verify(b!);
    expect(calls.n).toBe(3);
    await verifier.verify(a!);
    expect(calls.n).toBe(4);
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** A signing key with its public JWK, as an issuer holds it. */
export interface TestKey {
  alg: 'RS256' | 'ES256';
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export const makeKey = async (alg: 'RS256' | 'ES256' = 'RS256'): Promise<TestKey> => {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey, publicKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
};

/** A loopback HTTP server that counts every request, serving a JWKS at `/jwks.json`. */
export interface LoopbackServer {
  url: string;
  /** Requests received, by path. */
  hits: string[];
  keys: JWK[];
  close(): Promise<void>;
}

export const serveJwks = async (keys: JWK[] = []): Promise<LoopbackServer> => {
  const state = { hits: [] as string[], keys };
  const server: Server = createServer((req, res) => {
    state.hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    get keys() {
      return state.keys;
    },
    set keys(k: JWK[]) {
      state.keys = k;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as LoopbackServer;
};

export const ISSUER_PATH = '/pool';
export const CLIENT_ID = 'client-abc';

/** Claims of a valid Cognito client-credentials access token, at `nowSeconds`. */
export const accessClaims = (issuer: string, nowSeconds: number): JWTPayload => ({
  sub: CLIENT_ID,
  token_use: 'access',
  scope: 'inference/invoke',
  auth_time: nowSeconds,
  iss: issuer,
  exp: nowSeconds + 3600,
  iat: nowSeconds,
  version: 2,
  jti: crypto.randomUUID(),
  client_id: CLIENT_ID,
});

export const sign = (
  key: TestKey,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
  crit?: Record<string, boolean>,
): Promise<string> =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey, crit ? { crit } : undefined);

export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

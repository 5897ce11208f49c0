import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { authFromEnv } from '../../../edge/auth/options.js';
import { s256 } from '../../../local/issuer/app.js';
import { DEV_ADMIN_USER } from '../../../local/issuer/clients.js';
import { startLocalIssuer, type LocalIssuer } from '../../../local/issuer/server.js';
import { testConfig } from '../../helpers/catalogue.js';
import { StubInvoker } from '../../edge/auth/harness.js';

let issuer: LocalIssuer;
let dir: string;
let stateFile: string;
const banner: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-issuer-'));
  stateFile = join(dir, '.local', 'issuer.json');
  issuer = await startLocalIssuer({ port: 0, stateFile, print: (l) => banner.push(l) });
});
afterAll(async () => {
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
});

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const tokenRequest = (form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(issuer.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
const clientCredentials = async (role: 'admin' | 'operator' | 'viewer' | 'consumer') => {
  const c = issuer.clientForRole[role]!;
  const res = await tokenRequest(
    { grant_type: 'client_credentials' },
    { authorization: basic(c.clientId, c.clientSecret!) },
  );
  return ((await res.json()) as { access_token: string }).access_token;
};

describe('local issuer metadata', () => {
  it('serves OIDC discovery and a JWKS of its generated key', async () => {
    const meta = (await (
      await fetch(`${issuer.issuerUrl}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      issuer: issuer.issuerUrl,
      token_endpoint: issuer.tokenEndpoint,
      jwks_uri: issuer.jwksUrl,
      code_challenge_methods_supported: ['S256'],
    });
    const jwks = (await (await fetch(issuer.jwksUrl)).json()) as {
      keys: { kty: string; alg: string; kid: string; d?: string }[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0]!.d).toBeUndefined();
  });

  it('generates secrets at start and writes them only to a 0600 state file, never the banner', async () => {
    const secret = issuer.clientForRole.admin!.clientSecret!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const printed = banner.join('\n');
    for (const c of issuer.clients)
      if (c.clientSecret) expect(printed).not.toContain(c.clientSecret);
    expect(printed).toContain(`secret in ${stateFile}`);
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(stateFile, 'utf8')).toContain(secret);
    const again = await startLocalIssuer({ port: 0, print: () => undefined });
    expect(again.clientForRole.admin!.clientSecret).not.toBe(secret);
    await again.close();
  });
});

describe('client credentials', () => {
  it('issues a two-hour Cognito-shaped access token that the gateway accepts', async () => {
    const token = await clientCredentials('consumer');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      sub: 'sluice-local-consumer',
      client_id: 'sluice-local-consumer',
      token_use: 'access',
      scope: 'inference/invoke',
      iss: issuer.issuerUrl,
      version: 2,
    });
    expect(claims.exp! - claims.iat!).toBe(7200);
    const { verifier } = authFromEnv(issuer.authEnv);
    expect((await verifier.verify(token)).roles).toEqual(['consumer']);
  });

  it('refuses a wrong secret, a missing Basic header and an unknown scope', async () => {
    const c = issuer.clientForRole.viewer!;
    const wrong = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(c.clientId, 'nope') },
    );
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: 'invalid_client' });
    // Credentials in the body are not HTTP Basic, so they do not count.
    const inBody = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: c.clientId,
      client_secret: c.clientSecret!,
    });
    expect(inBody.status).toBe(401);
    const scope = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'inference/admin' },
      { authorization: basic(c.clientId, c.clientSecret!) },
    );
    expect(scope.status).toBe(400);
    expect(await scope.json()).toEqual({ error: 'invalid_scope' });
  });
});

describe('bounds', () => {
  it('refuses a token request body over 8 KiB with 413', async () => {
    const res = await fetch(issuer.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&pad=${'x'.repeat(9000)}`,
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toBe('invalid_request');
  });
});

describe('authorization code with PKCE', () => {
  const redirect = 'http://127.0.0.1:53682/callback';
  const authorize = async (challenge: string, extra: Record<string, string> = {}) => {
    const url = new URL(`${issuer.issuerUrl}/oauth2/authorize`);
    const params = {
      response_type: 'code',
      client_id: 'sluice-local-web',
      redirect_uri: redirect,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      scope: 'openid inference/invoke',
      state: 'xyz',
      ...extra,
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return fetch(url, { redirect: 'manual' });
  };
  const exchange = (code: string, verifier: string) =>
    tokenRequest({
      grant_type: 'authorization_code',
      client_id: 'sluice-local-web',
      code,
      redirect_uri: redirect,
      code_verifier: verifier,
    });

  it('signs in the dev user and exchanges the code once, with the right verifier', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const res = await authorize(s256(verifier));
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(redirect);
    expect(location.searchParams.get('state')).toBe('xyz');
    const code = location.searchParams.get('code')!;
    const tokens = (await (await exchange(code, verifier)).json()) as {
      access_token: string;
      id_token: string;
      expires_in: number;
    };
    expect(tokens.expires_in).toBe(7200);
    expect(decodeJwt(tokens.access_token)).toMatchObject({
      sub: '00000000-0000-4000-8000-00000000de00',
      username: 'dev',
      'cognito:groups': [],
      client_id: 'sluice-local-web',
      token_use: 'access',
      scope: 'openid inference/invoke',
    });
    const { verifier: gateway } = authFromEnv(issuer.authEnv);
    // A plain consumer unless npm start -- --dev-admin says otherwise.
    expect((await gateway.verify(tokens.access_token)).roles).toEqual(['consumer']);
    // The ID token of the same sign-in is not an access token.
    await expect(gateway.verify(tokens.id_token)).rejects.toThrow(/not an access token/);
    const replay = await exchange(code, verifier);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({ error: 'invalid_grant' });
  });

  it('signs the dev user in as Admin only when the issuer is started with DEV_ADMIN_USER', async () => {
    const admin = await startLocalIssuer({ port: 0, user: DEV_ADMIN_USER, print: () => {} });
    try {
      const verifier = randomBytes(32).toString('base64url');
      const url = new URL(`${admin.issuerUrl}/oauth2/authorize`);
      for (const [k, v] of Object.entries({
        response_type: 'code',
        client_id: 'sluice-local-web',
        redirect_uri: redirect,
        code_challenge: s256(verifier),
        code_challenge_method: 'S256',
        scope: 'inference/invoke',
      }))
        url.searchParams.set(k, v);
      const code = new URL(
        (await fetch(url, { redirect: 'manual' })).headers.get('location')!,
      ).searchParams.get('code')!;
      const res = await fetch(admin.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: 'sluice-local-web',
          code,
          redirect_uri: redirect,
          code_verifier: verifier,
        }).toString(),
      });
      const { access_token } = (await res.json()) as { access_token: string };
      const { verifier: gateway } = authFromEnv(admin.authEnv);
      expect((await gateway.verify(access_token)).roles).toEqual(['consumer', 'admin']);
    } finally {
      await admin.close();
    }
  });

  it('refuses a wrong verifier and spends the code', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const code = new URL(
      (await authorize(s256(verifier))).headers.get('location')!,
    ).searchParams.get('code')!;
    const wrong = await exchange(code, randomBytes(32).toString('base64url'));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ error: 'invalid_grant' });
    expect((await exchange(code, verifier)).status).toBe(400);
  });

  it('requires S256 and refuses an unregistered redirect without redirecting', async () => {
    const plain = await authorize('x'.repeat(43), { code_challenge_method: 'plain' });
    expect(new URL(plain.headers.get('location')!).searchParams.get('error')).toBe(
      'invalid_request',
    );
    const evil = await authorize(s256('v'.repeat(43)), {
      redirect_uri: 'https://evil.example/callback',
    });
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
  });
});

describe('the gateway against the local issuer', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const { app } = createApp({
      config: testConfig(),
      invoker: new StubInvoker(),
      auth: authFromEnv(issuer.authEnv),
    });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () =>
        resolve(),
      ) as Server;
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  it('serves the official openai client with a client-credentials token', async () => {
    const client = new OpenAI({
      apiKey: await clientCredentials('consumer'),
      baseURL: `${base}/v1`,
      maxRetries: 0,
    });
    const out = await client.chat.completions.create({
      model: 'chat-model',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(out.choices[0]!.message.content).toBe('ok');
  });

  it('refuses no token with 401 and a Viewer token with 403, each with WWW-Authenticate', async () => {
    const chat = (headers: Record<string, string>) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] }),
      });
    const anonymous = await chat({});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="sluice"');
    const viewer = await chat({ authorization: `Bearer ${await clientCredentials('viewer')}` });
    expect(viewer.status).toBe(403);
    expect(viewer.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
  });
});

describe('npm run token', () => {
  it('prints only a token from the running issuer, found through its state file', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'local/token.ts', '--role', 'operator'],
      { env: { ...process.env, SLUICE_ISSUER_STATE: stateFile } },
    );
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { verifier } = authFromEnv(issuer.authEnv);
    expect((await verifier.verify(stdout.trim())).roles).toEqual(['operator']);
  });

  it('fails with a hint when no issuer is running', async () => {
    const run = promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'local/token.ts', '--role', 'admin'],
      {
        env: { ...process.env, SLUICE_ISSUER_STATE: join(dir, 'missing.json') },
      },
    );
    await expect(run).rejects.toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringMatching(/npm start/),
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authFromEnv, AuthConfigError } from '../../../edge/auth/options.js';
import { bearer, identityHarness, type IdentityHarness } from './harness.js';

let h: IdentityHarness;
beforeAll(async () => {
  h = await identityHarness();
});
afterAll(() => h.close());

const chat = { model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] };
const post = (path: string, headers: Record<string, string>) =>
  h.app().app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(chat),
  });

describe('the bearer middleware', () => {
  it('answers 401 with only the realm when no token is sent', async () => {
    const res = await post('/v1/chat/completions', {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sluice"');
    expect(await res.json()).toEqual({
      error: {
        message: 'An access token is required: send Authorization: Bearer <token>.',
        type: 'authentication_error',
        param: null,
        code: 'missing_token',
      },
    });
  });

  it('treats another scheme as no token', async () => {
    const res = await post('/v1/chat/completions', { authorization: 'Basic dXNlcjpwYXNz' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sluice"');
  });

  it('refuses a token in the query string even when it is valid', async () => {
    const token = await h.token('consumer');
    const res = await post(`/v1/chat/completions?access_token=${token}`, {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_request"/);
  });

  it('answers 401 invalid_token with a safe description for a bad token', async () => {
    const res = await post('/v1/chat/completions', bearer('a.b.c'));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="sluice", error="invalid_token", error_description="The access token is malformed."',
    );
    const body = (await res.json()) as { error: { type: string; code: string } };
    expect(body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_token' });
  });

  it('answers 403 insufficient_scope naming the scope for a Viewer on /v1', async () => {
    const res = await post('/v1/chat/completions', bearer(await h.token('viewer')));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="sluice", error="insufficient_scope", error_description="This request needs the consumer role.", scope="inference/invoke"',
    );
  });

  it('serves a consumer and reports the subject in the access log', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = {
      debug() {},
      info: (f: Record<string, unknown>) => lines.push(f),
      warn() {},
      error() {},
    };
    const res = await h
      .app({ logger })
      .app.request('/v1/models', { headers: bearer(await h.token('consumer')) });
    expect(res.status).toBe(200);
    expect(lines.at(-1)).toMatchObject({ subject: 'user-consumer', status: 200 });
  });
});

describe('behind CloudFront origin access control', () => {
  const sigv4 =
    'AWS4-HMAC-SHA256 Credential=AKIA/20250101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=abc';

  it('reads the bearer token CloudFront forwarded in x-sluice-authorization when configured', async () => {
    const token = await h.token('consumer');
    const { app } = h.app({
      auth: { mode: 'jwt', verifier: h.verifier, forwardedHeader: 'x-sluice-authorization' },
    });
    const res = await app.request('/v1/models', {
      headers: { authorization: sigv4, 'x-sluice-authorization': `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
  });

  it('ignores the forwarded header unless configured', async () => {
    const token = await h.token('consumer');
    const { app } = h.app();
    const res = await app.request('/v1/models', {
      headers: { authorization: sigv4, 'x-sluice-authorization': `Bearer ${token}` },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sluice"');
  });
});

describe('authFromEnv', () => {
  it('fails at start-up without an issuer or client ids', () => {
    expect(() => authFromEnv({})).toThrow(AuthConfigError);
    expect(() => authFromEnv({ SLUICE_AUTH_ISSUER: 'https://issuer.test' })).toThrow(/CLIENT_IDS/);
  });

  it('refuses a plain-http issuer off loopback', () => {
    expect(() =>
      authFromEnv({ SLUICE_AUTH_ISSUER: 'http://issuer.test', SLUICE_AUTH_CLIENT_IDS: 'a' }),
    ).toThrow(/https/);
  });

  it('builds a verifier that accepts the configured clients', async () => {
    const auth = authFromEnv({
      SLUICE_AUTH_ISSUER: h.issuer,
      SLUICE_AUTH_CLIENT_IDS: ' other , client-abc ',
      SLUICE_AUTH_JWKS_URL: `${h.jwks.url}/jwks.json`,
    });
    await expect(auth.verifier.verify(await h.token('consumer'))).resolves.toMatchObject({
      roles: ['consumer'],
    });
    expect(auth.forwardedHeader).toBe(false);
  });

  it('reads the forwarded token header only from SLUICE_AUTH_TOKEN_HEADER', () => {
    const env = { SLUICE_AUTH_ISSUER: 'https://issuer.test', SLUICE_AUTH_CLIENT_IDS: 'a' };
    expect(
      authFromEnv({ ...env, SLUICE_AUTH_TOKEN_HEADER: 'X-Sluice-Authorization' }).forwardedHeader,
    ).toBe('x-sluice-authorization');
    expect(() => authFromEnv({ ...env, SLUICE_AUTH_TOKEN_HEADER: 'authorization' })).toThrow(
      AuthConfigError,
    );
    expect(() => authFromEnv({ ...env, SLUICE_AUTH_TOKEN_HEADER: 'bad header' })).toThrow(
      AuthConfigError,
    );
  });
});

import { createApp, type AppDeps } from '../../../edge/app.js';
import { createTokenVerifier, type TokenVerifier } from '../../../edge/auth/verify-token.js';
import type { InvokeOptions, InvokeTarget, ModelInvoker } from '../../../edge/invoke/invoker.js';
import type { Role } from '../../../edge/auth/principal.js';
import type { GatewayConfigInput } from '../../../shared/config/schema.js';
import { testConfig } from '../../helpers/catalogue.js';
import {
  accessClaims,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
  type TestKey,
} from './fixtures.js';

/** Answers like a TGI / TEI container, so every `/v1` route can succeed. */
export class StubInvoker implements ModelInvoker {
  async invoke(opts: InvokeOptions): Promise<unknown> {
    const body = opts.body as { inputs: unknown };
    if (Array.isArray(body.inputs)) return body.inputs.map(() => [0.1, 0.2, 0.3, 0.4]);
    return [
      {
        generated_text: 'ok',
        details: { finish_reason: 'eos_token', generated_tokens: 1, prompt_tokens: 1 },
      },
    ];
  }
  async *invokeStream(_opts?: InvokeOptions): AsyncIterable<unknown> {
    yield { token: { id: 1, text: 'ok', special: false } };
    yield {
      token: { id: 2, text: '', special: true },
      generated_text: 'ok',
      details: { finish_reason: 'eos_token', generated_tokens: 1, prompt_tokens: 1 },
    };
  }
  async checkReady(_target?: InvokeTarget): Promise<void> {}
}

/** Who a test token speaks for: a role, or explicit claims. */
export type TokenSpec =
  Role | { sub?: string; scopes?: string[]; groups?: string[]; tenant?: string; clientId?: string };

const ROLE_CLAIMS: Record<Role, { scopes: string[]; groups: string[] }> = {
  consumer: { scopes: ['inference/invoke'], groups: [] },
  viewer: { scopes: [], groups: ['Viewer'] },
  operator: { scopes: [], groups: ['Operator'] },
  admin: { scopes: [], groups: ['Admin'] },
};

/** A real issuer key, a JWKS on loopback, a verifier, and helpers to mint tokens and apps. */
export interface IdentityHarness {
  issuer: string;
  key: TestKey;
  jwks: LoopbackServer;
  verifier: TokenVerifier;
  token(spec: TokenSpec): Promise<string>;
  app(
    overrides?: Omit<Partial<AppDeps>, 'config'> & { config?: Partial<GatewayConfigInput> },
  ): ReturnType<typeof createApp>;
  close(): Promise<void>;
}

export const identityHarness = async (): Promise<IdentityHarness> => {
  const key = await makeKey();
  const jwks = await serveJwks([key.jwk]);
  const issuer = `${jwks.url}/pool`;
  const verifier = createTokenVerifier({
    issuer,
    clientIds: [CLIENT_ID],
    jwksUrl: `${jwks.url}/jwks.json`,
  });
  return {
    issuer,
    key,
    jwks,
    verifier,
    token: (spec) => {
      const s = typeof spec === 'string' ? { ...ROLE_CLAIMS[spec], sub: `user-${spec}` } : spec;
      const now = Math.floor(Date.now() / 1000);
      return sign(key, {
        ...accessClaims(issuer, now),
        sub: s.sub ?? 'user-1',
        client_id: s.clientId ?? CLIENT_ID,
        scope: (s.scopes ?? []).join(' '),
        'cognito:groups': s.groups ?? [],
        ...(s.tenant ? { 'custom:tenant': s.tenant } : {}),
        jti: crypto.randomUUID(),
      });
    },
    app: (overrides = {}) => {
      const { config, ...rest } = overrides;
      return createApp({
        config: testConfig(config ?? {}),
        invoker: new StubInvoker(),
        auth: { mode: 'jwt', verifier },
        ...rest,
      });
    },
    close: () => jwks.close(),
  };
};

export const bearer = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
});

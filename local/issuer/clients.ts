import { randomBytes } from 'node:crypto';
import type { Role } from '../../edge/auth/principal.js';

/** A development app client of the local issuer, as the local config describes it. */
export interface DevClientConfig {
  clientId: string;
  /** Which `npm run token -- --role` picks this client. */
  role?: Role;
  /** Scopes the client may ask for (and gets when it asks for none). */
  scopes: string[];
  grants: ('client_credentials' | 'authorization_code')[];
  /** Where `/oauth2/authorize` may send the code; loopback URIs match on any port (RFC 8252). */
  redirectUris?: string[];
  /** A public client (a browser or CLI app using PKCE) has no secret. @default false */
  public?: boolean;
}

/** The development user `/oauth2/authorize` signs in without a login page. */
export interface DevUserConfig {
  username: string;
  sub: string;
  email?: string;
  /** Cognito groups; `Admin`, `Operator`, `Viewer` map to roles. */
  groups: string[];
}

/** A client as the running issuer holds it: config plus a secret generated at start. */
export interface DevClient extends DevClientConfig {
  /** Generated at start, never compiled in; absent for public clients. */
  clientSecret?: string;
}

/**
 * One client-credentials client per role, and one public PKCE client for the dev user. The
 * scope names are the ones `auth.roles` grants roles for by default.
 */
export const DEFAULT_DEV_CLIENTS: readonly DevClientConfig[] = [
  {
    clientId: 'sluice-local-consumer',
    role: 'consumer',
    scopes: ['inference/invoke'],
    grants: ['client_credentials'],
  },
  {
    clientId: 'sluice-local-viewer',
    role: 'viewer',
    scopes: ['inference/read'],
    grants: ['client_credentials'],
  },
  {
    clientId: 'sluice-local-operator',
    role: 'operator',
    scopes: ['inference/operate'],
    grants: ['client_credentials'],
  },
  {
    clientId: 'sluice-local-admin',
    role: 'admin',
    scopes: ['inference/admin'],
    grants: ['client_credentials'],
  },
  {
    clientId: 'sluice-local-web',
    scopes: ['openid', 'email', 'profile', 'inference/invoke'],
    grants: ['authorization_code'],
    redirectUris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
    public: true,
  },
];

/**
 * The browser (PKCE) user: a plain consumer, in no group. `npm start -- --dev-admin` signs it in
 * as {@link DEV_ADMIN_USER} instead.
 */
export const DEFAULT_DEV_USER: DevUserConfig = {
  username: 'dev',
  sub: '00000000-0000-4000-8000-00000000de00',
  email: 'dev@localhost',
  groups: [],
};

/** The browser user with the `Admin` group, only when asked for (`--dev-admin`). */
export const DEV_ADMIN_USER: DevUserConfig = { ...DEFAULT_DEV_USER, groups: ['Admin'] };

/** Gives every confidential client a fresh 32-byte secret. */
export const withSecrets = (clients: readonly DevClientConfig[]): DevClient[] =>
  clients.map((c) =>
    c.public ? { ...c } : { ...c, clientSecret: randomBytes(32).toString('base64url') },
  );

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Exact match, except that loopback redirect URIs may use any port (RFC 8252 §7.3). */
export const redirectAllowed = (client: DevClientConfig, uri: string): boolean => {
  let asked: URL;
  try {
    asked = new URL(uri);
  } catch {
    return false;
  }
  if (asked.hash) return false;
  return (client.redirectUris ?? []).some((allowed) => {
    const a = new URL(allowed);
    if (LOOPBACK.has(a.hostname) && a.protocol === 'http:') {
      return (
        asked.protocol === 'http:' &&
        asked.hostname === a.hostname &&
        asked.pathname === a.pathname &&
        asked.search === a.search
      );
    }
    return allowed === uri;
  });
};

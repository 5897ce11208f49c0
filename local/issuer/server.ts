import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { Role } from '../../edge/auth/principal.js';
import { createIssuerApp } from './app.js';
import {
  DEFAULT_DEV_CLIENTS,
  DEFAULT_DEV_USER,
  withSecrets,
  type DevClient,
  type DevClientConfig,
  type DevUserConfig,
} from './clients.js';
import { removeStateFile, writeStateFile, type IssuerStateFile } from './state-file.js';

export interface LocalIssuerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** `0` picks a free port. */
  port: number;
  /** @default DEFAULT_DEV_CLIENTS */
  clients?: readonly DevClientConfig[];
  /** @default DEFAULT_DEV_USER */
  user?: DevUserConfig;
  /** @default 7200 (Cognito's access-token lifetime in the deployment) */
  tokenLifetimeSeconds?: number;
  /**
   * Where to write the 0600 state file `npm run token` reads (issuer URL and per-role client
   * secrets); `undefined` writes none. `local/main.ts` passes `defaultStateFilePath()`.
   */
  stateFile?: string;
  /**
   * Receives the start-up banner: client ids and where their secrets are, never the secrets.
   * @default a line on stderr
   */
  print?: (line: string) => void;
}

export interface LocalIssuer {
  /** Exact `iss` of its tokens, e.g. `http://127.0.0.1:8788`. */
  issuerUrl: string;
  tokenEndpoint: string;
  jwksUrl: string;
  /** Every client with its generated secret (public clients have none). */
  clients: readonly DevClient[];
  /** The client-credentials client of each role. */
  clientForRole: Partial<Record<Role, DevClient>>;
  /** Feed to `authFromEnv` so the gateway trusts exactly this issuer and these clients. */
  authEnv: {
    SLUICE_AUTH_ISSUER: string;
    SLUICE_AUTH_CLIENT_IDS: string;
    SLUICE_AUTH_JWKS_URL: string;
  };
  /** Stops listening and removes the state file. */
  close(): Promise<void>;
}

/**
 * Starts the local issuer on loopback with a signing key and client secrets generated now.
 *
 * @example
 * const issuer = await startLocalIssuer({ port: 8788, stateFile: defaultStateFilePath() });
 * const auth = authFromEnv(issuer.authEnv, config.auth);
 */
export const startLocalIssuer = async (options: LocalIssuerOptions): Promise<LocalIssuer> => {
  const host = options.host ?? '127.0.0.1';
  const print = options.print ?? ((line: string) => process.stderr.write(line + '\n'));
  const clients = withSecrets(options.clients ?? DEFAULT_DEV_CLIENTS);
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);

  // The issuer URL names the port, which is known only once listening; requests that arrive
  // before it is set cannot exist, because nobody knows the port yet.
  let handler: ((req: Request) => Response | Promise<Response>) | undefined;
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>(
    (resolve, reject) => {
      const s = serve(
        { fetch: (req) => handler!(req), hostname: host, port: options.port },
        (address) => resolve({ server: s as Server, address }),
      ) as Server;
      s.once('error', reject);
    },
  );
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const issuerUrl = `http://${urlHost}:${address.port}`;
  const app = createIssuerApp({
    issuerUrl,
    signingKey: { kid, privateKey, publicJwk },
    clients,
    user: options.user ?? DEFAULT_DEV_USER,
    ...(options.tokenLifetimeSeconds ? { tokenLifetimeSeconds: options.tokenLifetimeSeconds } : {}),
  });
  handler = app.fetch;

  const clientForRole: Partial<Record<Role, DevClient>> = {};
  for (const c of clients)
    if (c.role && c.clientSecret && !clientForRole[c.role]) clientForRole[c.role] = c;
  const tokenEndpoint = `${issuerUrl}/oauth2/token`;
  if (options.stateFile) {
    const state: IssuerStateFile = {
      issuerUrl,
      tokenEndpoint,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      clients: Object.fromEntries(
        Object.entries(clientForRole).map(([role, c]) => [
          role,
          { clientId: c.clientId, clientSecret: c.clientSecret!, scopes: c.scopes },
        ]),
      ),
    };
    await writeStateFile(options.stateFile, state);
  }

  // Secrets stay out of the banner (terminals are scrolled back, shared and recorded): they are
  // in the 0600 state file, which `npm run token` reads.
  const secretsAt = options.stateFile ? `secret in ${options.stateFile}` : 'secret not written';
  print(`local issuer ${issuerUrl} (development only; client secrets are new each start)`);
  for (const c of clients) {
    print(
      `  client ${c.clientId}${c.role ? ` [${c.role}]` : ''}  ${c.clientSecret ? secretsAt : 'public (PKCE)'}  scopes ${c.scopes.join(' ')}`,
    );
  }
  const user = options.user ?? DEFAULT_DEV_USER;
  print(
    `  browser user ${user.username}: ${user.groups.length > 0 ? `groups ${user.groups.join(', ')}` : 'a plain consumer (npm start -- --dev-admin makes it Admin)'}`,
  );
  if (options.stateFile)
    print(`  a token: npm run token -- --role consumer   (reads ${options.stateFile})`);

  return {
    issuerUrl,
    tokenEndpoint,
    jwksUrl: `${issuerUrl}/.well-known/jwks.json`,
    clients,
    clientForRole,
    authEnv: {
      SLUICE_AUTH_ISSUER: issuerUrl,
      SLUICE_AUTH_CLIENT_IDS: clients.map((c) => c.clientId).join(','),
      SLUICE_AUTH_JWKS_URL: `${issuerUrl}/.well-known/jwks.json`,
    },
    close: async () => {
      if (options.stateFile) await removeStateFile(options.stateFile, issuerUrl);
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
};

/**
 * `npm run token -- --role admin|operator|viewer|consumer [--scope "a b"]`
 *
 * Prints a fresh access token from the running local issuer, and nothing else, on stdout:
 *   curl -H "Authorization: Bearer $(npm run -s token -- --role consumer)" …
 * It finds the issuer and the role's client secret in the 0600 state file the issuer writes
 * at start (`.local/issuer.json`, or `SLUICE_ISSUER_STATE`). Errors go to stderr, exit code 1.
 */
import { parseArgs } from 'node:util';
import { ROLES } from '../edge/auth/rbac.js';
import type { Role } from '../edge/auth/principal.js';
import { defaultStateFilePath, readStateFile } from './issuer/state-file.js';

const fail = (message: string): never => {
  process.stderr.write(`token: ${message}\n`);
  process.exit(1);
};

const main = async (): Promise<void> => {
  const { values } = parseArgs({
    options: { role: { type: 'string', default: 'consumer' }, scope: { type: 'string' } },
    strict: true,
  });
  const role = values.role as Role;
  if (!ROLES.includes(role)) fail(`--role must be one of ${ROLES.join(', ')}`);
  const path = defaultStateFilePath();
  const state = await readStateFile(path).catch((e: Error) => fail(e.message));
  const client = state.clients[role] ?? fail(`the local issuer has no client for role ${role}`);
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (values.scope) form.set('scope', values.scope);
  const basic = Buffer.from(
    `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`,
  ).toString('base64');
  const res = await fetch(state.tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form,
  }).catch(() => fail(`cannot reach ${state.tokenEndpoint}: is \`npm start\` running?`));
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string };
  if (!res.ok || !body.access_token) {
    fail(
      `the issuer refused: ${res.status} ${body.error ?? ''} (restarted since? rerun npm start)`,
    );
  }
  process.stdout.write(`${body.access_token}\n`);
};

await main();

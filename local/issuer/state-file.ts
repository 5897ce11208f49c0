import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Role } from '../../edge/auth/principal.js';

/**
 * What a running local issuer tells `npm run token`: where to ask, and the per-role client
 * credentials. Written 0600 under `.local/` (git-ignored) when the issuer starts, removed when
 * it stops; secrets never live anywhere else on disk.
 */
export interface IssuerStateFile {
  issuerUrl: string;
  tokenEndpoint: string;
  pid: number;
  startedAt: string;
  clients: Partial<Record<Role, { clientId: string; clientSecret: string; scopes: string[] }>>;
}

/** `SLUICE_ISSUER_STATE`, or `.local/issuer.json` under the working directory. */
export const defaultStateFilePath = (env: NodeJS.ProcessEnv = process.env): string =>
  resolve(env.SLUICE_ISSUER_STATE ?? '.local/issuer.json');

export const writeStateFile = async (path: string, state: IssuerStateFile): Promise<void> => {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  // `mode` applies only to a new file; chmod covers a leftover with wider rights.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
};

/**
 * Reads the state file, refusing one that others can read (as ssh refuses a loose key).
 * @throws Error with a message for the person at the terminal
 */
export const readStateFile = async (path: string): Promise<IssuerStateFile> => {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch {
    throw new Error(`No local issuer state at ${path}: is \`npm start\` running?`);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new Error(
      `${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it.`,
    );
  }
  return JSON.parse(await readFile(path, 'utf8')) as IssuerStateFile;
};

/** Removes the state file if it still describes `issuerUrl` (a newer issuer may own it). */
export const removeStateFile = async (path: string, issuerUrl: string): Promise<void> => {
  try {
    const state = JSON.parse(await readFile(path, 'utf8')) as IssuerStateFile;
    if (state.issuerUrl === issuerUrl && state.pid === process.pid) await rm(path, { force: true });
  } catch {
    // Already gone, or not ours to parse: nothing to clean.
  }
};

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TSX = join(ROOT, 'node_modules/tsx/dist/cli.mjs');
const CLI = join(ROOT, 'tools/artifact/cli.ts');

/** Runs `npm run artifact -- …` the way npm does: tsx on the CLI, in the repository root. */
async function artifact(args: string[], env: Record<string, string>) {
  try {
    const out = await run(process.execPath, [TSX, CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout: out.stdout, stderr: out.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run artifact -- seal / open with the local keyring', () => {
  let dir: string;
  let env: Record<string, string>;
  const data = randomBytes(3 * 1024 * 1024 + 17);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-artifact-cli-'));
    // No key yet: as on a fresh clone, `seal` creates it.
    env = { SLUICE_ARTIFACT_KEY_FILE: join(dir, 'keys', 'artifact.key') };
    await writeFile(join(dir, 'model.gguf'), data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('seals, creating a 0600 key, then opens the same bytes', async () => {
    const sealed = await artifact(
      [
        'seal',
        join(dir, 'model.gguf'),
        join(dir, 'model.gguf.sealed'),
        '--model',
        'tiny',
        '--version',
        'v1',
      ],
      env,
    );
    expect(sealed.stderr).toBe('');
    expect(sealed.code).toBe(0);
    expect(sealed.stdout).toMatch(/Sealed .*model\.gguf\.sealed .*tiny@v1, local key/);
    expect((await stat(env.SLUICE_ARTIFACT_KEY_FILE!)).mode & 0o777).toBe(0o600);

    const opened = await artifact(
      ['open', join(dir, 'model.gguf.sealed'), join(dir, 'opened.gguf'), '--model', 'tiny'],
      env,
    );
    expect(opened.code).toBe(0);
    expect(opened.stdout).toMatch(/Opened .* \(tiny@v1\)/);
    expect((await readFile(join(dir, 'opened.gguf'))).equals(data)).toBe(true);
  }, 60_000);

  it('exits 1 with a sentence when the file was sealed for another version', async () => {
    const out = await artifact(
      ['open', join(dir, 'model.gguf.sealed'), join(dir, 'x.gguf'), '--version', 'v2'],
      env,
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/sealed for version "v1", not "v2"/);
  }, 60_000);

  it('exits 2 with usage when a required option is missing', async () => {
    const out = await artifact(['seal', join(dir, 'model.gguf'), join(dir, 'y')], env);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--model is missing[\s\S]*Usage: npm run artifact/);
  }, 60_000);
});

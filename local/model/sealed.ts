import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openFile, type ArtifactIdentity } from '../../tools/artifact/envelope.js';
import { kmsKeyring, localKeyFile, localKeyring } from '../../tools/artifact/keyrings.js';

/** A sealed model opened to a private file for as long as the local stack runs. */
export interface OpenedModel {
  /** The plaintext GGUF: mode 0600 in a fresh 0700 folder under the system temp folder. */
  readonly path: string;
  readonly identity: ArtifactIdentity;
  /** Time to decrypt and verify the file, milliseconds. */
  readonly openMs: number;
  /** Deletes the plaintext (also done when the process exits). */
  close(): Promise<void>;
}

/** `SLUICE_LOCAL_GGUF` names a sealed model when it ends in `.sealed`. */
export function isSealedModel(path: string): boolean {
  return path.endsWith('.sealed');
}

/**
 * Opens a model sealed with `npm run artifact -- seal`: with the KMS key in
 * `SLUICE_ARTIFACT_KMS_KEY`, else the local key file (`SLUICE_ARTIFACT_KEY_FILE`, default
 * `.local/artifact.key`). `SLUICE_LOCAL_GGUF_MODEL` / `SLUICE_LOCAL_GGUF_VERSION` pin the model
 * version the file must be sealed for. llama.cpp maps models from a path, so the plaintext goes
 * to a private temporary file rather than memory; it is removed on `close()` or exit.
 */
export async function openSealedModel(
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<OpenedModel> {
  const started = performance.now();
  const keyring = env.SLUICE_ARTIFACT_KMS_KEY
    ? kmsKeyring({ keyId: env.SLUICE_ARTIFACT_KMS_KEY })
    : await localKeyring(localKeyFile(env));
  const dir = await mkdtemp(join(tmpdir(), 'sluice-model-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  const out = join(dir, basename(path, '.sealed'));
  try {
    const identity = await openFile(path, out, {
      keyring,
      expect: { model: env.SLUICE_LOCAL_GGUF_MODEL, version: env.SLUICE_LOCAL_GGUF_VERSION },
    });
    return {
      path: out,
      identity,
      openMs: performance.now() - started,
      async close() {
        process.off('exit', remove);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.off('exit', remove);
    remove();
    throw err;
  }
}

import {
  KmsKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  type KeyringNode,
} from '@aws-crypto/client-node';
import { KMS, type KMSClientConfig } from '@aws-sdk/client-kms';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SealError } from './envelope.js';

/** Key namespace of local AES keys in the message header (not secret). */
export const LOCAL_KEY_NAMESPACE = 'sluice-local';

/** `<repo>/.local/artifact.key`: the embedded default's key, never committed. */
export const DEFAULT_LOCAL_KEY_FILE = fileURLToPath(
  new URL('../../.local/artifact.key', import.meta.url),
);

/** The local key file: env `SLUICE_ARTIFACT_KEY_FILE`, else `.local/artifact.key`. */
export function localKeyFile(env: Readonly<Record<string, string | undefined>> = process.env) {
  return env.SLUICE_ARTIFACT_KEY_FILE || DEFAULT_LOCAL_KEY_FILE;
}

/**
 * A raw AES-256-GCM keyring over a 32-byte key file that only its owner may read (mode 0600).
 * The key's name in the header is a fingerprint of the key, so opening with another key says
 * "sealed under another key" instead of failing inside GCM.
 *
 * @param create - generate the key (mode 0600, in a 0700 folder) when the file does not exist.
 */
export async function localKeyring(
  path: string,
  { create = false }: { create?: boolean } = {},
): Promise<KeyringNode> {
  const key = await readKeyFile(path, create);
  return new RawAesKeyringNode({
    keyNamespace: LOCAL_KEY_NAMESPACE,
    keyName: `key-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`,
    unencryptedMasterKey: key,
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

async function readKeyFile(path: string, create: boolean): Promise<Uint8Array> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!create) {
      throw new SealError(
        'wrong-key',
        `No local artifact key at ${path}. Seal a file first (it creates one), or set SLUICE_ARTIFACT_KEY_FILE to the key that sealed it.`,
      );
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(32));
    } finally {
      await handle.close();
    }
    return readKeyFile(path, false);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new SealError(
      'wrong-key',
      `The artifact key ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${path}.`,
    );
  }
  const key = await readFile(path);
  if (key.length !== 32) {
    throw new SealError(
      'wrong-key',
      `The artifact key ${path} holds ${key.length} bytes; an AES-256 key is 32.`,
    );
  }
  return new Uint8Array(key);
}

export interface KmsKeyringOptions {
  /** Key ARN (or alias ARN when sealing) that wraps data keys. */
  readonly keyId: string;
  /** The KMS client; one is built from `config` when absent. */
  readonly client?: KMS;
  readonly config?: KMSClientConfig;
}

/**
 * A strict KMS keyring on an `@aws-sdk/client-kms` client: seals with `GenerateDataKey` and
 * opens with `Decrypt` under exactly `keyId`, passing the encryption context to KMS, so the key
 * policy can require it (`kms:EncryptionContext:sluice:model`) and CloudTrail records it.
 */
export function kmsKeyring(options: KmsKeyringOptions): KeyringNode {
  const kms = options.client ?? new KMS(options.config ?? {});
  return new KmsKeyringNode({ generatorKeyId: options.keyId, clientProvider: () => kms });
}

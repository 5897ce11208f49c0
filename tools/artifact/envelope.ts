import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  type KeyringNode,
  type MessageHeader,
} from '@aws-crypto/client-node';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Envelope encryption for model artifacts that leave S3, with the AWS Encryption SDK: a fresh data
 * key per file, wrapped by a keyring (KMS, or a local AES key); the body in authenticated frames,
 * numbered, the last one marked, so a flipped byte, a reordered frame or a cut-off file fails.
 *
 * The suite is committing and unsigned (`ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY`): each
 * frame is authenticated on its own, so `open` can stream plaintext to disk as it goes and never
 * releases bytes that a later signature check could still reject. Opening refuses signed
 * messages (`decryptUnsignedMessageStream`) and messages with more than one wrapped data key.
 */

/** Encryption-context keys that bind a sealed file to one model version. */
export const CONTEXT_MODEL = 'sluice:model';
export const CONTEXT_VERSION = 'sluice:version';

/** 1 MiB frames: large enough that per-frame work vanishes, small enough to bound memory. */
export const DEFAULT_FRAME_LENGTH = 1024 * 1024;

const SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
const client = buildClient({
  commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
  maxEncryptedDataKeys: 1,
});

/** The model version a sealed file belongs to. */
export interface ArtifactIdentity {
  readonly model: string;
  readonly version: string;
}

/** Why a sealed file was refused; `message` says it in words. */
export type SealFailure =
  'wrong-key' | 'wrong-context' | 'tampered' | 'truncated' | 'not-sealed' | 'unsupported';

export class SealError extends Error {
  override readonly name = 'SealError';
  constructor(
    readonly reason: SealFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SealOptions {
  readonly keyring: KeyringNode;
  readonly identity: ArtifactIdentity;
  /** Plaintext bytes per authenticated frame. @default 1 MiB */
  readonly frameLength?: number;
}

export interface OpenOptions {
  readonly keyring: KeyringNode;
  /**
   * The model version the caller expects. A sealed file whose context names another model or
   * version is refused before any plaintext is written. @default accept any, as long as the
   * file names a model and a version
   */
  readonly expect?: Partial<ArtifactIdentity>;
}

/** The encryption context for one model version. */
export function artifactContext(identity: ArtifactIdentity): Record<string, string> {
  if (!identity.model || !identity.version) {
    throw new SealError('wrong-context', 'A sealed artifact needs a model and a version.');
  }
  return { [CONTEXT_MODEL]: identity.model, [CONTEXT_VERSION]: identity.version };
}

/** Encrypts `input` into `output` as one framed message. */
export async function sealStream(
  input: Readable,
  output: Writable,
  options: SealOptions,
): Promise<void> {
  const encrypt = client.encryptStream(options.keyring, {
    suiteId: SUITE,
    encryptionContext: artifactContext(options.identity),
    frameLength: options.frameLength ?? DEFAULT_FRAME_LENGTH,
  });
  await pipeline(input, encrypt, output).catch((err: unknown) => {
    throw classify(err);
  });
}

/**
 * Decrypts `input` into `output`. The encryption context is checked against `expect` when the
 * header arrives, before the first frame is decrypted.
 * @returns the model version the file was sealed for.
 */
export async function openStream(
  input: Readable,
  output: Writable,
  options: OpenOptions,
): Promise<ArtifactIdentity> {
  const decrypt = client.decryptUnsignedMessageStream(options.keyring);
  let identity: ArtifactIdentity | undefined;
  decrypt.once('MessageHeader', (header: MessageHeader) => {
    try {
      identity = checkContext(header.encryptionContext, options.expect);
    } catch (err) {
      decrypt.destroy(err as Error);
    }
  });
  await pipeline(input, decrypt, output).catch((err: unknown) => {
    throw classify(err);
  });
  if (!identity) throw new SealError('not-sealed', 'The file carries no message header.');
  return identity;
}

/**
 * Seals `inPath` to `outPath`, written under a temporary name (mode 0600) and renamed when
 * complete, so a failed run leaves no partial file under the final name.
 */
export async function sealFile(inPath: string, outPath: string, options: SealOptions) {
  // Reads of one frame at a time: the SDK then frames without gathering small chunks.
  const highWaterMark = options.frameLength ?? DEFAULT_FRAME_LENGTH;
  await writeAtomically(outPath, (out) =>
    sealStream(createReadStream(inPath, { highWaterMark }), out, options),
  );
}

/** Opens `inPath` to `outPath` (mode 0600), renamed into place only once every frame checked out. */
export async function openFile(
  inPath: string,
  outPath: string,
  options: OpenOptions,
): Promise<ArtifactIdentity> {
  let identity: ArtifactIdentity | undefined;
  await writeAtomically(outPath, async (out) => {
    identity = await openStream(
      createReadStream(inPath, { highWaterMark: DEFAULT_FRAME_LENGTH }),
      out,
      options,
    );
  });
  return identity!;
}

async function writeAtomically(
  path: string,
  write: (out: Writable) => Promise<void>,
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await write(createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

function checkContext(
  context: Readonly<Record<string, string>>,
  expect: Partial<ArtifactIdentity> = {},
): ArtifactIdentity {
  const model = context[CONTEXT_MODEL];
  const version = context[CONTEXT_VERSION];
  if (!model || !version) {
    throw new SealError(
      'wrong-context',
      `The sealed file's encryption context names no model version (${CONTEXT_MODEL}, ${CONTEXT_VERSION}); it was not sealed by Sluice.`,
    );
  }
  for (const [field, want, got] of [
    ['model', expect.model, model],
    ['version', expect.version, version],
  ] as const) {
    if (want !== undefined && want !== got) {
      throw new SealError(
        'wrong-context',
        `The file was sealed for ${field} "${got}", not "${want}"; refusing to open it.`,
      );
    }
  }
  return { model, version };
}

/** Turns the Encryption SDK's terse errors into a reason and a sentence. */
function classify(err: unknown): Error {
  if (err instanceof SealError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const rules: [RegExp, SealFailure, string][] = [
    [
      /unencryptedDataKey|Unable to decrypt data key|No Encrypted Data Keys|keyring|KMS|not allowed to decrypt/i,
      'wrong-key',
      'No key at hand unwraps this file’s data key: it was sealed under another key.',
    ],
    [
      /out of order|sequence/i,
      'tampered',
      'The frames are out of order: the file was reordered or spliced.',
    ],
    [
      /Unsupported state or unable to authenticate data|Authenticate|commitment/i,
      'tampered',
      'A frame failed authentication: the file was changed after it was sealed.',
    ],
    [
      /context parse|Header auth|header/i,
      'tampered',
      'The header does not parse or authenticate: the file was changed after it was sealed.',
    ],
    [
      /premature|incomplete|final frame|not enough data|truncat|Unexpected end|tail/i,
      'truncated',
      'The file ends before its final frame: it is truncated.',
    ],
    [
      /Malformed|version|Unsupported|suite|not supported/i,
      'not-sealed',
      'This is not a sealed artifact (or was sealed with a format this version does not read).',
    ],
  ];
  for (const [pattern, reason, text] of rules) {
    if (pattern.test(message)) return new SealError(reason, `${text} (${message})`, { cause: err });
  }
  return err instanceof Error ? err : new Error(message);
}

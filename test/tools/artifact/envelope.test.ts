import {
  DecryptCommand,
  GenerateDataKeyCommand,
  InvalidCiphertextException,
  KMS,
  KMSClient,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  openFile,
  openStream,
  sealFile,
  sealStream,
  type ArtifactIdentity,
} from '../../../tools/artifact/envelope.js';
import { kmsKeyring, localKeyring } from '../../../tools/artifact/keyrings.js';

const identity: ArtifactIdentity = { model: 'deepseek-r1-8b', version: 'v7' };
const FRAME = 1024;

const seal = async (data: Buffer, options: Parameters<typeof sealStream>[2]) => {
  const chunks: Buffer[] = [];
  await sealStream(Readable.from([data]), collect(chunks), options);
  return Buffer.concat(chunks);
};
const open = async (sealed: Buffer, options: Parameters<typeof openStream>[2]) => {
  const chunks: Buffer[] = [];
  const id = await openStream(Readable.from([sealed]), collect(chunks), options);
  return { id, data: Buffer.concat(chunks) };
};
function collect(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
}

/** Body layout of the framed format: 4 B sequence, 12 B IV, content, 16 B tag per regular frame. */
const REGULAR_FRAME = 4 + 12 + FRAME + 16;
const finalFrameSize = (plaintext: number) => 4 + 4 + 12 + 4 + (plaintext % FRAME) + 16;

describe('sealing with the local AES keyring', () => {
  let dir: string;
  let keyring: Awaited<ReturnType<typeof localKeyring>>;
  // Five regular frames and a short final frame.
  const data = randomBytes(5 * FRAME + 300);
  let sealed: Buffer;
  let headerLength: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-envelope-'));
    keyring = await localKeyring(join(dir, 'a.key'), { create: true });
    sealed = await seal(data, { keyring, identity, frameLength: FRAME });
    headerLength = sealed.length - 5 * REGULAR_FRAME - finalFrameSize(data.length);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('round-trips a file and reports the model version it was sealed for', async () => {
    const { id, data: opened } = await open(sealed, { keyring, expect: identity });
    expect(opened.equals(data)).toBe(true);
    expect(id).toEqual(identity);
    expect(sealed.includes(data.subarray(0, 64))).toBe(false);
  });

  it('creates the key file with mode 0600 and refuses one others can read', async () => {
    const path = join(dir, 'a.key');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await chmod(path, 0o644);
    await expect(localKeyring(path)).rejects.toThrow(/readable by others.*chmod 600/);
    await chmod(path, 0o600);
  });

  it('refuses a flipped byte inside a frame', async () => {
    const bad = Buffer.from(sealed);
    bad[headerLength + REGULAR_FRAME + 4 + 12 + 100]! ^= 0x01;
    await expect(open(bad, { keyring })).rejects.toMatchObject({
      reason: 'tampered',
      message: expect.stringMatching(/failed authentication/),
    });
  });

  it('refuses a flipped byte in the header', async () => {
    const bad = Buffer.from(sealed);
    bad[40]! ^= 0x01;
    await expect(open(bad, { keyring })).rejects.toMatchObject({ reason: 'tampered' });
  });

  it('refuses a file cut off at a frame boundary and inside a frame', async () => {
    for (const cut of [headerLength + 3 * REGULAR_FRAME, sealed.length - 10]) {
      await expect(open(sealed.subarray(0, cut), { keyring })).rejects.toMatchObject({
        reason: 'truncated',
        message: expect.stringMatching(/truncated/),
      });
    }
  });

  it('refuses two frames swapped', async () => {
    const frame = (n: number) =>
      sealed.subarray(headerLength + n * REGULAR_FRAME, headerLength + (n + 1) * REGULAR_FRAME);
    const bad = Buffer.concat([
      sealed.subarray(0, headerLength + REGULAR_FRAME),
      frame(2),
      frame(1),
      sealed.subarray(headerLength + 3 * REGULAR_FRAME),
    ]);
    expect(bad.length).toBe(sealed.length);
    await expect(open(bad, { keyring })).rejects.toMatchObject({
      reason: 'tampered',
      message: expect.stringMatching(/out of order/),
    });
  });

  it('refuses another local key', async () => {
    const other = await localKeyring(join(dir, 'b.key'), { create: true });
    await expect(open(sealed, { keyring: other })).rejects.toMatchObject({
      reason: 'wrong-key',
      message: expect.stringMatching(/sealed under another key/),
    });
  });

  it('refuses a file sealed for another model or version before writing any plaintext', async () => {
    for (const expect_ of [{ model: 'llama-70b' }, { version: 'v8' }]) {
      const chunks: Buffer[] = [];
      await expect(
        openStream(Readable.from([sealed]), collect(chunks), { keyring, expect: expect_ }),
      ).rejects.toMatchObject({
        reason: 'wrong-context',
        message: expect.stringMatching(/was sealed for (model|version) "(deepseek-r1-8b|v7)"/),
      });
      expect(chunks).toHaveLength(0);
    }
  });

  it('refuses a file that is not sealed', async () => {
    await expect(open(randomBytes(4096), { keyring })).rejects.toMatchObject({
      reason: 'not-sealed',
    });
  });

  it('writes files under a temporary name and leaves nothing behind on failure', async () => {
    const plain = join(dir, 'weights.bin');
    await writeFile(plain, data);
    await sealFile(plain, join(dir, 'weights.bin.sealed'), { keyring, identity });
    const opened = join(dir, 'weights.out');
    await openFile(join(dir, 'weights.bin.sealed'), opened, { keyring, expect: identity });
    expect((await readFile(opened)).equals(data)).toBe(true);
    expect((await stat(opened)).mode & 0o777).toBe(0o600);

    const cut = join(dir, 'cut.sealed');
    await writeFile(cut, (await readFile(join(dir, 'weights.bin.sealed'))).subarray(0, 3000));
    await expect(openFile(cut, join(dir, 'cut.out'), { keyring })).rejects.toThrow(/truncated/);
    const names = await readdir(dir);
    expect(names.filter((n) => n.includes('cut.out'))).toEqual([]);
  });
});

describe('sealing with the KMS keyring', () => {
  const keyArn = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const otherArn = 'arn:aws:kms:us-east-1:111111111111:key/99999999-12ab-34cd-56ef-1234567890ab';
  const kms = mockClient(KMSClient);
  // KMS stands in here: data keys wrapped with AES-GCM under a real key, the context as AAD.
  const master = randomBytes(32);
  const aad = (context: Record<string, string> | undefined) =>
    Buffer.from(JSON.stringify(Object.entries(context ?? {}).sort()));

  afterEach(() => kms.reset());

  const fakeKms = () => {
    kms
      .on(GenerateDataKeyCommand)
      .callsFake((input: { EncryptionContext?: Record<string, string>; KeyId: string }) => {
        const plaintext = randomBytes(32);
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', master, iv).setAAD(
          aad(input.EncryptionContext),
        );
        const blob = Buffer.concat([
          iv,
          cipher.update(plaintext),
          cipher.final(),
          cipher.getAuthTag(),
        ]);
        return { KeyId: input.KeyId, Plaintext: plaintext, CiphertextBlob: blob };
      });
    kms
      .on(DecryptCommand)
      .callsFake(
        (input: {
          CiphertextBlob: Uint8Array;
          EncryptionContext?: Record<string, string>;
          KeyId?: string;
        }) => {
          if (input.KeyId !== keyArn)
            throw new InvalidCiphertextException({ message: 'wrong key', $metadata: {} });
          const blob = Buffer.from(input.CiphertextBlob);
          const decipher = createDecipheriv('aes-256-gcm', master, blob.subarray(0, 12))
            .setAAD(aad(input.EncryptionContext))
            .setAuthTag(blob.subarray(blob.length - 16));
          const plaintext = Buffer.concat([
            decipher.update(blob.subarray(12, -16)),
            decipher.final(),
          ]);
          return { KeyId: keyArn, Plaintext: plaintext };
        },
      );
  };

  it('asks KMS for a data key under the key with the model and version as context', async () => {
    fakeKms();
    const client = new KMS({ region: 'us-east-1' });
    const keyring = kmsKeyring({ keyId: keyArn, client });
    const data = randomBytes(3 * FRAME);
    const sealed = await seal(data, { keyring, identity, frameLength: FRAME });
    const { data: opened, id } = await open(sealed, { keyring, expect: identity });
    expect(opened.equals(data)).toBe(true);
    expect(id).toEqual(identity);

    const context = { 'sluice:model': 'deepseek-r1-8b', 'sluice:version': 'v7' };
    const generate = kms.commandCalls(GenerateDataKeyCommand);
    expect(generate).toHaveLength(1);
    expect(generate[0]!.args[0].input).toMatchObject({
      KeyId: keyArn,
      NumberOfBytes: 32,
      EncryptionContext: context,
    });
    const decrypt = kms.commandCalls(DecryptCommand);
    expect(decrypt).toHaveLength(1);
    expect(decrypt[0]!.args[0].input).toMatchObject({ KeyId: keyArn, EncryptionContext: context });
  });

  it('refuses a file when KMS will not decrypt its data key under another key', async () => {
    fakeKms();
    const client = new KMS({ region: 'us-east-1' });
    const sealed = await seal(randomBytes(100), {
      keyring: kmsKeyring({ keyId: keyArn, client }),
      identity,
    });
    await expect(
      open(sealed, { keyring: kmsKeyring({ keyId: otherArn, client }) }),
    ).rejects.toMatchObject({ reason: 'wrong-key' });
  });
});

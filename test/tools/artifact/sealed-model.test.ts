import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { access, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { createLocalBackends, type LocalBackends } from '../../../local/model/local-backends.js';
import { ensureTinyModel } from '../../../local/model/tiny-model.js';
import { sealFile } from '../../../tools/artifact/envelope.js';
import { localKeyring } from '../../../tools/artifact/keyrings.js';

describe('the local endpoint serving a sealed stand-in model', () => {
  let dir: string;
  let sealedPath: string;
  let env: Record<string, string>;
  let local: LocalBackends;
  let endpoint: LocalEndpoint;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-sealed-model-'));
    const tiny = await ensureTinyModel(join(dir, 'models'));
    env = { SLUICE_ARTIFACT_KEY_FILE: join(dir, 'artifact.key') };
    const keyring = await localKeyring(env.SLUICE_ARTIFACT_KEY_FILE!, { create: true });
    sealedPath = join(dir, 'tiny.gguf.sealed');
    await sealFile(tiny.path, sealedPath, { keyring, identity: { model: 'tiny', version: 'v1' } });
    local = await createLocalBackends({
      chatModelPath: sealedPath,
      env: { ...env, SLUICE_LOCAL_GGUF_MODEL: 'tiny' },
      threads: 1,
      sequences: 1,
    });
    endpoint = await startLocalEndpoint({ port: 0, backends: local.backends });
  });
  afterAll(async () => {
    await endpoint?.close();
    await local?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a chat completion from the opened model, kept in a private temporary file', async () => {
    const opened = local.info.chatModelPath;
    expect(opened).not.toBe(sealedPath);
    expect((await stat(opened)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(opened))).mode & 0o777).toBe(0o700);

    const runtime = new SageMakerRuntimeClient({
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    const out = await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: 'sluice-chat',
        ContentType: 'application/json',
        Body: new TextEncoder().encode(
          JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
        ),
      }),
    );
    runtime.destroy();
    const body = JSON.parse(new TextDecoder().decode(out.Body)) as {
      choices: { message: { content: string } }[];
      usage: { completion_tokens: number };
    };
    expect(body.choices).toHaveLength(1);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
  });

  it('removes the plaintext when the backends close', async () => {
    const other = await createLocalBackends({
      chatModelPath: sealedPath,
      env,
      threads: 1,
      sequences: 1,
    });
    const opened = other.info.chatModelPath;
    await access(opened);
    await other.close();
    await expect(access(dirname(opened))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to start from a file sealed for another model, leaving no plaintext', async () => {
    const before = (await readdir(tmpdir())).filter((n) => n.startsWith('sluice-model-'));
    await expect(
      createLocalBackends({
        chatModelPath: sealedPath,
        env: { ...env, SLUICE_LOCAL_GGUF_MODEL: 'deepseek-r1' },
      }),
    ).rejects.toThrow(/sealed for model "tiny", not "deepseek-r1"/);
    const after = (await readdir(tmpdir())).filter((n) => n.startsWith('sluice-model-'));
    expect(after.sort()).toEqual(before.sort());
  });
});

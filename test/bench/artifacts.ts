/**
 * `npm run bench:artifacts`: throughput and memory of artifact verification, seal and open on a
 * generated file (1 GiB; `SLUICE_BENCH_ARTIFACT_MIB` changes it), side by side with `sha256sum`,
 * `openssl dgst -sha256` and `openssl enc -aes-256-ctr` on the same file, and the time from
 * opening a sealed stand-in model to its first answer through the local endpoint.
 *
 * Each measured step runs in its own child process, so its peak RSS (`maxRSS`) is its own.
 */
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open as openFd, mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sha256Ranged, type RangeSource } from '../../functions/artifact-ingest/verify.js';
import { startLocalEndpoint } from '../../local/endpoint/server.js';
import { createLocalBackends } from '../../local/model/local-backends.js';
import { ensureTinyModel } from '../../local/model/tiny-model.js';
import { openFile, sealFile } from '../../tools/artifact/envelope.js';
import { localKeyring } from '../../tools/artifact/keyrings.js';

const run = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
const MIB = 1024 * 1024;

interface StepResult {
  seconds: number;
  /** Peak RSS of the child before the step: Node, tsx and the modules loaded. */
  idleRssMiB?: number;
  maxRssMiB: number;
}

/** A child-process step: prints its time and peak RSS as JSON. */
async function step(args: string[]): Promise<StepResult> {
  const { stdout } = await run(process.execPath, [TSX, SELF, '--step', ...args], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as StepResult;
}

/** A shell baseline: wall time and the child's peak RSS from GNU time when present. */
function baseline(command: string, args: string[]): StepResult {
  const started = performance.now();
  const out = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (out.status !== 0) throw new Error(`${command} failed: ${out.stderr.toString()}`);
  return { seconds: (performance.now() - started) / 1000, maxRssMiB: Number.NaN };
}

function fileSource(handle: Awaited<ReturnType<typeof openFd>>, size: number): RangeSource {
  return {
    size,
    async read(start, end) {
      const buffer = Buffer.allocUnsafe(end - start);
      let done = 0;
      while (done < buffer.length) {
        const { bytesRead } = await handle.read(buffer, done, buffer.length - done, start + done);
        if (bytesRead === 0) throw new Error('short read');
        done += bytesRead;
      }
      return buffer;
    },
  };
}

async function childStep(kind: string, args: string[]): Promise<void> {
  const idleRssMiB = process.resourceUsage().maxRSS / 1024;
  const started = performance.now();
  if (kind === 'verify') {
    const [file] = args;
    const handle = await openFd(file!, 'r');
    const { size } = await handle.stat();
    await sha256Ranged(fileSource(handle, size), { rangeSize: 16 * MIB, concurrency: 4 });
    await handle.close();
  } else if (kind === 'seal' || kind === 'open') {
    const [input, output, keyFile] = args;
    const keyring = await localKeyring(keyFile!);
    const identity = { model: 'bench', version: 'v1' };
    if (kind === 'seal') await sealFile(input!, output!, { keyring, identity });
    else await openFile(input!, output!, { keyring, expect: identity });
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ seconds, idleRssMiB, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
}

/** Open a sealed stand-in, load it, and time until the local endpoint's first answer. */
async function openToAnswer(dir: string, keyFile: string) {
  const tiny = await ensureTinyModel(join(dir, 'models'));
  const sealed = join(dir, 'tiny.gguf.sealed');
  await sealFile(tiny.path, sealed, {
    keyring: await localKeyring(keyFile),
    identity: { model: 'tiny', version: 'v1' },
  });
  const started = performance.now();
  const local = await createLocalBackends({
    chatModelPath: sealed,
    env: { SLUICE_ARTIFACT_KEY_FILE: keyFile },
    threads: 1,
    sequences: 1,
  });
  const loaded = performance.now();
  const endpoint = await startLocalEndpoint({ port: 0, backends: local.backends });
  const runtime = new SageMakerRuntimeClient({
    endpoint: endpoint.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await runtime.send(
    new InvokeEndpointCommand({
      EndpointName: 'sluice-chat',
      ContentType: 'application/json',
      Body: new TextEncoder().encode(
        JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 }),
      ),
    }),
  );
  const answered = performance.now();
  runtime.destroy();
  await endpoint.close();
  await local.close();
  return {
    sizeMiB: (await stat(tiny.path)).size / MIB,
    openAndLoadMs: loaded - started,
    toAnswerMs: answered - started,
  };
}

async function main(): Promise<void> {
  const mib = Number(process.env.SLUICE_BENCH_ARTIFACT_MIB ?? 1024);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-artifacts-'));
  try {
    const plain = join(dir, 'weights.bin');
    const keyFile = join(dir, 'artifact.key');
    await localKeyring(keyFile, { create: true });
    const out = await openFd(plain, 'w');
    const chunk = randomBytes(16 * MIB);
    for (let written = 0; written < mib * MIB; written += chunk.length) {
      await out.write(chunk, 0, Math.min(chunk.length, mib * MIB - written));
    }
    await out.close();
    // Warm the page cache so every reader below starts from the same place.
    baseline('cat', [plain]);

    const bytes = mib * MIB;
    const rate = (r: StepResult) => bytes / MIB / r.seconds;
    const sha256sum = baseline('sha256sum', [plain]);
    const dgst = baseline('openssl', ['dgst', '-sha256', plain]);
    const verify = await step(['verify', plain]);
    const key = randomBytes(32).toString('hex');
    const iv = randomBytes(16).toString('hex');
    const enc = baseline('openssl', [
      'enc',
      '-aes-256-ctr',
      '-K',
      key,
      '-iv',
      iv,
      '-in',
      plain,
      '-out',
      join(dir, 'ctr.bin'),
    ]);
    await rm(join(dir, 'ctr.bin'));
    const seal = await step(['seal', plain, join(dir, 'weights.sealed'), keyFile]);
    const open = await step([
      'open',
      join(dir, 'weights.sealed'),
      join(dir, 'opened.bin'),
      keyFile,
    ]);
    const answer = await openToAnswer(dir, keyFile);

    const row = (name: string, r: StepResult, versus?: StepResult) =>
      `${name.padEnd(44)} ${rate(r).toFixed(0).padStart(6)} MiB/s  ${
        Number.isNaN(r.maxRssMiB)
          ? '                '
          : `${r.maxRssMiB.toFixed(0).padStart(4)} MiB (+${(r.maxRssMiB - (r.idleRssMiB ?? 0)).toFixed(0).padStart(3)})`
      }  ${versus ? `${(rate(r) / rate(versus)).toFixed(2)}×` : ''}`;
    const lines = [
      `Artifact bench: ${mib} MiB file, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`,
      `${'step'.padEnd(44)} ${'rate'.padStart(12)}  peak RSS (+step)  ratio`,
      row('sha256sum', sha256sum),
      row('openssl dgst -sha256', dgst),
      row('verify: sha256Ranged (16 MiB × 4 in flight)', verify, sha256sum),
      row('openssl enc -aes-256-ctr (to a file)', enc),
      row('seal (ESDK, 1 MiB frames, local AES key)', seal, enc),
      row('open (ESDK, every frame authenticated)', open, enc),
      `verify vs openssl dgst: ${(rate(verify) / rate(dgst)).toFixed(2)}×`,
      `sealed stand-in (${answer.sizeMiB.toFixed(1)} MiB): open + load ${answer.openAndLoadMs.toFixed(0)} ms, first answer ${answer.toAnswerMs.toFixed(0)} ms after open started`,
      `open at the measured rate for a 16 GiB model: ~${((16 * 1024) / rate(open)).toFixed(0)} s before llama.cpp starts loading`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const stepIndex = process.argv.indexOf('--step');
if (stepIndex >= 0) {
  await childStep(process.argv[stepIndex + 1]!, process.argv.slice(stepIndex + 2));
} else {
  await main();
}

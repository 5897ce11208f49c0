import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const sizing = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'tools/sizing.ts', ...args], {
    env: { PATH: process.env.PATH ?? '' },
  });

describe('npm run sizing', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('lists DeepSeek-R1 on H200 instances only, with KV tokens per request, without credentials', async () => {
    const { stdout } = await sizing(
      '--model',
      'deepseek-r1',
      '--context',
      '32768',
      '--concurrency',
      '16',
    );
    expect(stdout).toMatch(
      /ml\.p5e\.48xlarge\s+8 × 141 GiB\s+H200\s+8\s+1\s+78\.1 GiB\s+714,870\s+44,679/,
    );
    expect(stdout).toMatch(/needs 915 GiB; ml\.p5\.48xlarge has 640 GiB/);
    expect(stdout).toContain(
      'OPTION_TENSOR_PARALLEL_DEGREE=8 OPTION_MAX_MODEL_LEN=32768 OPTION_MAX_ROLLING_BATCH_SIZE=16',
    );
  });

  it('reads a config.json with the parameter count given, and refuses one without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sizing-'));
    dirs.push(dir);
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        hidden_size: 8192,
        num_hidden_layers: 80,
        num_attention_heads: 64,
        num_key_value_heads: 8,
        max_position_embeddings: 131072,
      }),
    );
    const { stdout } = await sizing(
      '--model',
      config,
      '--params',
      '70.6',
      '--quantization',
      'fp8',
      '--context',
      '8192',
      '--concurrency',
      '4',
    );
    expect(stdout).toMatch(/fp8 weights 65\.8 GiB/);
    expect(stdout).toMatch(/ml\.g6\.12xlarge .* L4 /);
    expect(stdout).toMatch(/fp8 needs FP8 tensor cores \(Ada or Hopper\); ml\.p4d\.24xlarge/);
    await expect(sizing('--model', config)).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--params/),
    });
  });
});

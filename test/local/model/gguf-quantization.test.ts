import { getLlama, LlamaCompletion, readGgufFileInfo } from 'node-llama-cpp';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Q8_0_BLOCK_BYTES,
  fromHalfBits,
  quantizeQ8_0,
  toHalfBits,
} from '../../../local/model/gguf-writer.js';
import { ensureTinyModel, tinyModelFile } from '../../../local/model/tiny-model.js';

describe('16-bit floats', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [2 ** -24, 0x0001],
    [1e-8, 0x0000],
    [Infinity, 0x7c00],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
  ])('encodes %f as %i (IEEE binary16, ties to even)', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
  });

  it('round-trips every half value', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x7c00; bits++) {
      if (
        toHalfBits(fromHalfBits(bits)) !== bits ||
        toHalfBits(-fromHalfBits(bits)) !== (bits | 0x8000)
      ) {
        if (bits !== 0) wrong.push(bits);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('Q8_0 blocks', () => {
  it('stores 32 weights as one f16 scale and 32 int8 values, 34 bytes', () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * (i < 32 ? 1 : 0.01));
    const blocks = quantizeQ8_0(values);
    expect(blocks.length).toBe(2 * Q8_0_BLOCK_BYTES);
    for (let b = 0; b < 2; b++) {
      const block = values.subarray(b * 32, b * 32 + 32);
      const amax = Math.max(...Array.from(block, Math.abs));
      const d = fromHalfBits(blocks.readUInt16LE(b * 34));
      expect(d).toBeCloseTo(amax / 127, 4);
      const q = Array.from({ length: 32 }, (_, j) => blocks.readInt8(b * 34 + 2 + j));
      expect(Math.max(...q.map(Math.abs))).toBe(127);
      q.forEach((qj, j) => expect(Math.abs(qj * d - block[j]!)).toBeLessThanOrEqual(d / 2 + 1e-6));
    }
  });

  it('writes a zero block with scale 0', () => {
    const blocks = quantizeQ8_0(new Float32Array(32));
    expect([...blocks]).toEqual(new Array(34).fill(0));
  });

  it('refuses a tensor that is not whole blocks', () => {
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/multiple of 32/);
  });
});

describe('the stand-in in F16 and Q8_0', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('writes both, node-llama-cpp reads their tensor types, loads both and generates from each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-quant-'));
    dirs.push(dir);
    const f16 = await ensureTinyModel(dir, 'f16');
    const q8 = await ensureTinyModel(dir, 'q8_0');
    expect(f16.path).toBe(join(dir, tinyModelFile('f16')));
    expect(q8.path).toBe(join(dir, tinyModelFile('q8_0')));

    const types = async (path: string) => {
      const info = await readGgufFileInfo(path);
      return Object.fromEntries(info.tensorInfo!.map((t) => [t.name, t.ggmlType]));
    };
    // enum ggml_type: 0 F32, 1 F16, 8 Q8_0. Norms stay F32.
    expect(await types(f16.path)).toMatchObject({
      'blk.0.attn_q.weight': 1,
      'output.weight': 1,
      'token_embd.weight': 1,
      'blk.0.attn_norm.weight': 0,
    });
    expect(await types(q8.path)).toMatchObject({
      'blk.0.attn_q.weight': 8,
      'output.weight': 8,
      'token_embd.weight': 8,
      'blk.0.attn_norm.weight': 0,
    });
    const [f16Bytes, q8Bytes] = [(await stat(f16.path)).size, (await stat(q8.path)).size];
    expect(q8Bytes).toBeLessThan(f16Bytes * 0.6);

    const llama = await getLlama({ gpu: false, build: 'never' });
    for (const path of [f16.path, q8.path]) {
      const model = await llama.loadModel({ modelPath: path });
      const context = await model.createContext({ contextSize: 256, threads: 1 });
      const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
      const text = await completion.generateCompletion('the river', {
        maxTokens: 8,
        temperature: 0,
      });
      expect(text.trim().split(/\s+/).length).toBeGreaterThan(1);
      await context.dispose();
      await model.dispose();
    }
  });
});

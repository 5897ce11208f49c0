import { readGgufFileInfo } from 'node-llama-cpp';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeGguf } from '../../../local/model/gguf-writer.js';
import {
  TINY_MODEL_FILE,
  buildTinyModel,
  ensureTinyModel,
} from '../../../local/model/tiny-model.js';
import { buildVocabulary } from '../../../local/model/vocab.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('the stand-in model generator', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-model-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('generates the same bytes from the same seed and different bytes from another', () => {
    const a = buildTinyModel();
    const b = buildTinyModel();
    const c = buildTinyModel(7);
    expect(sha256(encodeGguf(a.metadata, a.tensors))).toBe(
      sha256(encodeGguf(b.metadata, b.tensors)),
    );
    expect(sha256(encodeGguf(c.metadata, c.tensors))).not.toBe(
      sha256(encodeGguf(a.metadata, a.tensors)),
    );
  });

  it('writes a GGUF file on first use that node-llama-cpp reads as a 2-layer llama', async () => {
    const dir = await tempDir();
    const first = await ensureTinyModel(dir);
    expect(first).toEqual({ path: join(dir, TINY_MODEL_FILE), generated: true });

    const info = await readGgufFileInfo(first.path);
    expect(info.version).toBe(3);
    expect(info.metadata.general.architecture).toBe('llama');
    const llama = info.metadata.llama as { block_count: number; embedding_length: number };
    expect(llama).toMatchObject({ block_count: 2, embedding_length: 64 });
    expect(info.metadata.tokenizer.ggml.tokens).toHaveLength(buildVocabulary().tokens.length);
    expect(info.tensorInfo).toHaveLength(1 + 2 * 9 + 2);
    expect((await stat(first.path)).size).toBeLessThan(20 * 1024 * 1024);
  });

  it('reuses the generated file instead of writing it again', async () => {
    const dir = await tempDir();
    const first = await ensureTinyModel(dir);
    const before = await readFile(first.path);
    const again = await ensureTinyModel(dir);
    expect(again.generated).toBe(false);
    expect(sha256(await readFile(again.path))).toBe(sha256(before));
  });

  it('builds a vocabulary with unique pieces, byte fallback and whole-word output tokens', () => {
    const vocab = buildVocabulary();
    expect(new Set(vocab.tokens).size).toBe(vocab.tokens.length);
    expect(vocab.tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(vocab.tokens).toContain('<0x0A>');
    const emitted = vocab.tokens.filter((_, id) => vocab.emittable[id]);
    expect(emitted).toContain('▁river');
    expect(emitted.every((piece) => /^(▁[a-z]+|[.,;:!?])$/.test(piece))).toBe(true);
  });
});

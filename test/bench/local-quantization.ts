import { getLlama, LlamaCompletion } from 'node-llama-cpp';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  TINY_MODEL_QUANTIZATIONS,
  ensureTinyModel,
  tinyModelFile,
  type TinyModelQuantization,
} from '../../local/model/tiny-model.js';

/**
 * The local stand-in in F16 and in Q8_0, side by side in one run on this machine: file size, the
 * model's memory as llama.cpp reports it, load time (model + one context), and greedy decode
 * speed on one thread, as `npm start` runs it. Rounds alternate the two so drift on a shared
 * machine hits both; each figure is the median of the rounds.
 */
export interface QuantizationRow {
  quantization: TinyModelQuantization;
  fileBytes: number;
  modelBytes: number;
  loadMs: number;
  tokensPerS: number;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchLocalQuantization(rounds = 5, tokens = 200): Promise<QuantizationRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-quant-'));
  try {
    const llama = await getLlama({ gpu: false, build: 'never' });
    const samples = new Map<
      TinyModelQuantization,
      { load: number[]; tps: number[]; model: number; file: number }
    >();
    for (const q of TINY_MODEL_QUANTIZATIONS) {
      const { path } = await ensureTinyModel(dir, q);
      samples.set(q, { load: [], tps: [], model: 0, file: (await stat(path)).size });
    }
    for (let round = 0; round < rounds; round++) {
      const order =
        round % 2 === 0 ? TINY_MODEL_QUANTIZATIONS : [...TINY_MODEL_QUANTIZATIONS].reverse();
      for (const q of order) {
        const s = samples.get(q)!;
        const started = performance.now();
        const model = await llama.loadModel({
          modelPath: join(dir, tinyModelFile(q)),
        });
        const context = await model.createContext({ contextSize: 2048, threads: 1 });
        s.load.push(performance.now() - started);
        s.model = model.size;
        const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
        let generated = 0;
        const decodeStart = performance.now();
        await completion.generateCompletion('the river', {
          maxTokens: tokens,
          temperature: 0,
          onToken: (t) => void (generated += t.length),
        });
        s.tps.push((generated * 1000) / (performance.now() - decodeStart));
        await context.dispose();
        await model.dispose();
      }
    }
    return TINY_MODEL_QUANTIZATIONS.map((q) => {
      const s = samples.get(q)!;
      return {
        quantization: q,
        fileBytes: s.file,
        modelBytes: s.model,
        loadMs: median(s.load),
        tokensPerS: median(s.tps),
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Prints the rows side by side with the Q8_0 / F16 ratio of each measure. */
export function printQuantizationRows(rows: QuantizationRow[]): void {
  const [f16, q8] = [
    rows.find((r) => r.quantization === 'f16')!,
    rows.find((r) => r.quantization === 'q8_0')!,
  ];
  const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  console.log('\nlocal stand-in, F16 vs Q8_0 (one thread, greedy decode, median of rounds):');
  console.log(
    `  ${'measure'.padEnd(22)} ${'f16'.padStart(12)} ${'q8_0'.padStart(12)}   q8_0 / f16`,
  );
  const line = (name: string, a: number, b: number, show: (v: number) => string) =>
    console.log(
      `  ${name.padEnd(22)} ${show(a).padStart(12)} ${show(b).padStart(12)}   ${(b / a).toFixed(2)}×`,
    );
  line('file size', f16.fileBytes, q8.fileBytes, kb);
  line('model memory', f16.modelBytes, q8.modelBytes, kb);
  line('load (model+context)', f16.loadMs, q8.loadMs, (v) => `${v.toFixed(1)} ms`);
  line('decode', f16.tokensPerS, q8.tokensPerS, (v) => `${v.toFixed(0)} tok/s`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printQuantizationRows(await benchLocalQuantization());
}

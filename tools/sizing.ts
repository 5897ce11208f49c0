/**
 * `npm run sizing -- --model <id | path/to/config.json> [--params <billions>]
 *   [--quantization bf16|fp8|int8|awq-int4|gptq-int4] [--context <tokens>] [--concurrency <n>]
 *   [--kv-cache auto|fp8] [--memory-utilization 0.9] [--reserve-gib 2]`
 *
 * Prints the GPU instance types one copy of the model fits, with the KV-cache tokens left per
 * request at the configured concurrency, the ones it does not fit and why, and the engine settings
 * for the smallest fit. Offline: no AWS credentials, no download.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GPU_INSTANCE_TYPES } from '../cdk/config/instance-types.js';
import { architectureFromHfConfig, kvBytesPerTokenPerGpu } from '../cdk/sizing/architecture.js';
import {
  BUILTIN_MODEL_IDS,
  BUILTIN_MODELS,
  type BuiltinModelId,
} from '../cdk/sizing/builtin-models.js';
import { engineSettings } from '../cdk/sizing/engine-settings.js';
import { fitAll, gib, type Fit } from '../cdk/sizing/fit.js';
import { KV_CACHE_BYTES, PRECISIONS, PRECISION_FACTS } from '../cdk/sizing/precision.js';
import { modelProfileSchema, type ModelProfile } from '../cdk/sizing/profile.js';

const fail = (message: string): never => {
  process.stderr.write(`sizing: ${message}\n`);
  process.exit(2);
};

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    params: { type: 'string' },
    quantization: { type: 'string' },
    context: { type: 'string' },
    concurrency: { type: 'string' },
    'kv-cache': { type: 'string' },
    'memory-utilization': { type: 'string' },
    'reserve-gib': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help || !values.model) {
  process.stdout.write(
    `usage: npm run sizing -- --model <${BUILTIN_MODEL_IDS.join(' | ')} | path/to/config.json> [--params <billions>]\n` +
      `       [--quantization ${PRECISIONS.join('|')}] [--context <tokens>] [--concurrency <n>]\n` +
      `       [--kv-cache auto|fp8] [--memory-utilization 0.9] [--reserve-gib 2]\n`,
  );
  process.exit(values.help ? 0 : 2);
}

const model = values.model!;
const num = (flag: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : fail(`--${flag} must be a number, not ${value}`);
};

let architecture: unknown;
let precisionDefault = 'bf16';
if ((BUILTIN_MODEL_IDS as readonly string[]).includes(model)) {
  architecture = model;
  precisionDefault = BUILTIN_MODELS[model as BuiltinModelId].checkpointPrecision;
} else {
  const params =
    num('params', values.params) ??
    fail(
      `${model}: config.json has no parameter count; pass --params <billions> (from the model card)`,
    );
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(model, 'utf8'));
  } catch (err) {
    fail(
      `--model ${model} is neither a built-in model (${BUILTIN_MODEL_IDS.join(', ')}) nor a readable config.json: ${(err as Error).message}`,
    );
  }
  const arch = architectureFromHfConfig(json, Math.round(params * 1e9));
  architecture = {
    parametersBillions: params,
    layers: arch.layers,
    attentionHeads: arch.attentionHeads,
    maxContext: arch.maxContext,
    ...(arch.attention.kind === 'mla'
      ? { kvLoraRank: arch.attention.kvLoraRank, qkRopeHeadDim: arch.attention.qkRopeHeadDim }
      : { kvHeads: arch.attention.kvHeads, headDim: arch.attention.headDim }),
  };
}

const parsed = modelProfileSchema.safeParse({
  architecture,
  precision: values.quantization ?? precisionDefault,
  ...(values.context ? { maxModelLen: num('context', values.context) } : {}),
  ...(values.concurrency ? { concurrency: num('concurrency', values.concurrency) } : {}),
  ...(values['kv-cache'] ? { kvCachePrecision: values['kv-cache'] } : {}),
  ...(values['memory-utilization']
    ? { gpuMemoryUtilization: num('memory-utilization', values['memory-utilization']) }
    : {}),
  ...(values['reserve-gib'] ? { engineReserveGiB: num('reserve-gib', values['reserve-gib']) } : {}),
});
if (!parsed.success) {
  const flags: Record<string, string> = {
    precision: '--quantization',
    maxModelLen: '--context',
    concurrency: '--concurrency',
    kvCachePrecision: '--kv-cache',
    gpuMemoryUtilization: '--memory-utilization',
    engineReserveGiB: '--reserve-gib',
  };
  fail(
    parsed.error.issues
      .map((i) => `${flags[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`)
      .join('; '),
  );
}
const profile: ModelProfile = { ...parsed.data!, name: model };
const arch = profile.architecture;
const kvBytes = KV_CACHE_BYTES[profile.kvCachePrecision];

const lines: string[] = [];
const out = (line = '') => lines.push(line);
out(
  `${model}: ${(arch.parameters / 1e9).toFixed(arch.parameters < 1e11 ? 2 : 0)} B parameters, ${profile.precision} weights ${gib(arch.parameters * PRECISION_FACTS[profile.precision].bytesPerParameter)} GiB`,
);
out(
  `KV cache: ${kvBytesPerTokenPerGpu(arch, 1, kvBytes).toLocaleString('en-US')} bytes per token (${arch.attention.kind === 'mla' ? 'latent attention, whole on every GPU' : `${arch.attention.kvHeads} KV heads × ${arch.attention.headDim}, split across GPUs`}), ${profile.kvCachePrecision === 'fp8' ? 'fp8' : 'bf16'}`,
);
out(
  `serving: context ${profile.maxModelLen} × concurrency ${profile.concurrency} per copy, gpuMemoryUtilization ${profile.gpuMemoryUtilization}, reserve ${profile.engineReserveGiB} GiB per GPU`,
);
out();

const results = fitAll(profile);
const fits = results.filter((r): r is Fit => r.fits);
const header = [
  'instance type',
  'GPUs',
  'GPU',
  'TP',
  'copies',
  'weights/GPU',
  'KV tokens/copy',
  'KV tokens/request',
];
const rows = fits.map((f) => {
  const i = GPU_INSTANCE_TYPES[f.instanceType];
  return [
    f.instanceType,
    `${i.gpus} × ${i.gpuMemoryGiB} GiB`,
    i.gpu,
    String(f.tensorParallelDegree),
    String(f.copiesPerInstance),
    `${gib(f.memory.weights / f.tensorParallelDegree)} GiB`,
    f.kvTokens.toLocaleString('en-US'),
    f.kvTokensPerRequest.toLocaleString('en-US'),
  ];
});
if (rows.length === 0) {
  out('Fits no GPU instance type Sluice knows at these settings.');
} else {
  out(`Fits (smallest first; TP = tensor-parallel degree, copies = model copies per instance):`);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const row = (cells: string[]) =>
    `  ${cells.map((cell, c) => (c >= 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}`;
  out(row(header));
  for (const r of rows) out(row(r));
}
out();
out('Does not fit:');
for (const r of results) if (!r.fits) out(`  ${r.message}`);
if (fits.length > 0) {
  const best = fits[0]!;
  out();
  out(`Engine settings on ${best.instanceType}:`);
  for (const engine of ['lmi', 'vllm', 'sglang'] as const) {
    const env = engineSettings(engine, profile, best);
    out(
      `  ${engine.padEnd(6)} ${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
  }
}
process.stdout.write(`${lines.join('\n')}\n`);

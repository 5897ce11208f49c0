import { GPU_INSTANCE_TYPES, gpuInstance, type GpuInstanceType } from '../config/instance-types.js';
import { kvBytesPerTokenPerGpu } from './architecture.js';
import { KV_CACHE_BYTES, PRECISIONS, PRECISION_FACTS, type Precision } from './precision.js';
import type { ModelProfile } from './profile.js';

export const GIB = 2 ** 30;
const TENSOR_PARALLEL_DEGREES = [1, 2, 4, 8] as const;

/** Where one copy of the model runs. */
export interface Placement {
  readonly instanceType: GpuInstanceType;
  /**
   * GPUs the copy may use: an inference component's `acceleratorDevices`. @default the
   * instance's GPUs (the smallest tensor-parallel degree that fits is chosen among them)
   */
  readonly gpus?: number;
}

/** Memory of one copy, bytes, summed over its tensor-parallel GPUs. */
export interface MemoryUse {
  readonly weights: number;
  readonly reserve: number;
  /** KV cache for `maxModelLen` × `concurrency` tokens. */
  readonly kvCache: number;
  /** Weights + reserve + KV cache. */
  readonly total: number;
  /** GPU memory of the copy's GPUs × `gpuMemoryUtilization`. */
  readonly usable: number;
}

export interface Fit {
  readonly fits: true;
  readonly instanceType: GpuInstanceType;
  readonly tensorParallelDegree: number;
  /** Copies one instance runs (LMI starts GPUs ÷ degree workers). */
  readonly copiesPerInstance: number;
  readonly memory: MemoryUse;
  /** KV-cache tokens one copy holds once weights and reserve are placed. */
  readonly kvTokens: number;
  /** `kvTokens` ÷ `concurrency`: at least `maxModelLen` when it fits. */
  readonly kvTokensPerRequest: number;
}

export interface Refusal {
  readonly fits: false;
  readonly instanceType: GpuInstanceType;
  readonly reason: 'precision' | 'memory' | 'gpus';
  /** What is wrong and what would fit, e.g. "needs 152 GiB; ml.g5.12xlarge has 96 GiB: …". */
  readonly message: string;
  /** At the largest degree tried; absent when the precision is refused. */
  readonly memory?: MemoryUse;
}

export type FitResult = Fit | Refusal;

/** GiB for messages: whole numbers above 100 or when exact, else one decimal (`86.4`). */
export const gib = (bytes: number): string => {
  const value = bytes / GIB;
  const tenths = Math.round(value * 10) / 10;
  return value >= 100 || Number.isInteger(tenths) ? String(Math.round(value)) : tenths.toFixed(1);
};

function memoryAt(
  profile: ModelProfile,
  gpuMemoryGiB: number,
  tp: number,
): MemoryUse & { kvTokens: number } {
  const arch = profile.architecture;
  const weights = arch.parameters * PRECISION_FACTS[profile.precision].bytesPerParameter;
  const perToken = kvBytesPerTokenPerGpu(arch, tp, KV_CACHE_BYTES[profile.kvCachePrecision]);
  const usablePerGpu = gpuMemoryGiB * GIB * profile.gpuMemoryUtilization;
  const reservePerGpu = profile.engineReserveGiB * GIB;
  const kvPerGpu = perToken * profile.maxModelLen * profile.concurrency;
  const freePerGpu = usablePerGpu - weights / tp - reservePerGpu;
  return {
    weights,
    reserve: reservePerGpu * tp,
    kvCache: kvPerGpu * tp,
    total: weights + (reservePerGpu + kvPerGpu) * tp,
    usable: usablePerGpu * tp,
    kvTokens: Math.max(0, Math.floor(freePerGpu / perToken)),
  };
}

/** Degrees to try: divide the GPUs available and the attention heads. */
function degrees(profile: ModelProfile, gpus: number): number[] {
  if (profile.tensorParallelDegree) return [profile.tensorParallelDegree];
  return TENSOR_PARALLEL_DEGREES.filter(
    (d) => d <= gpus && gpus % d === 0 && profile.architecture.attentionHeads % d === 0,
  );
}

/** The fit without suggestions (they call it for other precisions and instance types). */
function tryFit(profile: ModelProfile, placement: Placement): FitResult {
  const instance = gpuInstance(placement.instanceType);
  const type = placement.instanceType;
  const needs = PRECISION_FACTS[profile.precision].computesIn;
  if (!instance.precisions.includes(needs)) {
    return {
      fits: false,
      instanceType: type,
      reason: 'precision',
      message: `${profile.precision} needs ${needs.toUpperCase()} tensor cores (Ada or Hopper); ${type} has ${instance.gpu} (${instance.generation})`,
    };
  }
  const gpus = placement.gpus ?? instance.gpus;
  if (gpus > instance.gpus || (profile.tensorParallelDegree ?? 0) > gpus) {
    return {
      fits: false,
      instanceType: type,
      reason: 'gpus',
      message: `tensorParallelDegree ${profile.tensorParallelDegree ?? gpus} needs more GPUs than the ${gpus} ${type} gives a copy`,
    };
  }
  const tried =
    placement.gpus !== undefined && !profile.tensorParallelDegree
      ? [placement.gpus]
      : degrees(profile, gpus);
  let last: (MemoryUse & { kvTokens: number }) | undefined;
  for (const tp of tried) {
    const memory = memoryAt(profile, instance.gpuMemoryGiB, tp);
    last = memory;
    const kvTokensPerRequest = Math.floor(memory.kvTokens / profile.concurrency);
    if (memory.total <= memory.usable && kvTokensPerRequest >= profile.maxModelLen) {
      const { kvTokens, ...use } = memory;
      return {
        fits: true,
        instanceType: type,
        tensorParallelDegree: tp,
        copiesPerInstance: Math.floor(instance.gpus / tp),
        memory: use,
        kvTokens,
        kvTokensPerRequest,
      };
    }
  }
  if (!last) {
    return {
      fits: false,
      instanceType: type,
      reason: 'gpus',
      message: `no tensor-parallel degree divides both ${gpus} GPUs and ${profile.architecture.attentionHeads} attention heads`,
    };
  }
  const { kvTokens: _unused, ...memory } = last;
  const usedGpus = tried[tried.length - 1]!;
  return {
    fits: false,
    instanceType: type,
    reason: 'memory',
    memory,
    message: `needs ${gib(memory.total)} GiB; ${type} has ${gib(usedGpus * instance.gpuMemoryGiB * GIB)} GiB${usedGpus < instance.gpus ? ` on the ${usedGpus} GPUs a copy gets` : ''} (${gib(memory.usable)} GiB at gpuMemoryUtilization ${profile.gpuMemoryUtilization})`,
  };
}

/** Instance types in order of total GPU memory, then GPU count, then name. */
export const INSTANCE_TYPES_BY_SIZE: readonly GpuInstanceType[] = (
  Object.keys(GPU_INSTANCE_TYPES) as GpuInstanceType[]
).sort((a, b) => {
  const x = GPU_INSTANCE_TYPES[a];
  const y = GPU_INSTANCE_TYPES[b];
  return x.gpus * x.gpuMemoryGiB - y.gpus * y.gpuMemoryGiB || x.gpus - y.gpus || a.localeCompare(b);
});

/**
 * Whether one copy of the model fits the placement: weights at the profile's precision, plus the
 * KV cache for `maxModelLen` × `concurrency` tokens, plus the engine's reserve, against the GPU
 * memory × `gpuMemoryUtilization` of the tensor-parallel GPUs — and whether the GPU computes in
 * the precision natively (FP8 needs Ada or Hopper). Tries the smallest tensor-parallel degree
 * first. A refusal says what would fit: a lighter precision on the same instance type, or the
 * smallest instance type that takes the profile as it is.
 *
 * @example
 * checkFit(profile, { instanceType: 'ml.g5.12xlarge' });
 * // { fits: false, reason: 'memory', message: 'needs 152 GiB; ml.g5.12xlarge has 96 GiB … : use awq-int4, or ml.p4d.24xlarge' }
 */
export function checkFit(profile: ModelProfile, placement: Placement): FitResult {
  const result = tryFit(profile, placement);
  if (result.fits) return result;
  const precisions = PRECISIONS.filter(
    (p: Precision) =>
      p !== profile.precision &&
      PRECISION_FACTS[p].bytesPerParameter <=
        PRECISION_FACTS[profile.precision].bytesPerParameter &&
      tryFit({ ...profile, precision: p, quantizeAtLoad: false }, placement).fits,
  );
  const instance =
    placement.gpus === undefined
      ? INSTANCE_TYPES_BY_SIZE.find(
          (t) => t !== placement.instanceType && tryFit(profile, { instanceType: t }).fits,
        )
      : undefined;
  // An inference component: more GPUs per copy on the same endpoint.
  const more =
    placement.gpus === undefined
      ? undefined
      : TENSOR_PARALLEL_DEGREES.find(
          (d) =>
            d > placement.gpus! &&
            d <= GPU_INSTANCE_TYPES[placement.instanceType].gpus &&
            tryFit(profile, { ...placement, gpus: d }).fits,
        );
  const options = [
    ...(precisions.length > 0 ? [precisions.slice(0, 2).join(' or ')] : []),
    ...(instance ? [instance] : []),
    ...(more ? [`acceleratorDevices ${more}`] : []),
  ];
  const advice =
    options.length > 0
      ? `: use ${options.join(', or ')}`
      : ': no GPU instance type Sluice knows fits it';
  return { ...result, message: `${result.message}${advice}` };
}

/** Every instance type, fitted, in order of size. */
export const fitAll = (profile: ModelProfile): FitResult[] =>
  INSTANCE_TYPES_BY_SIZE.map((instanceType) => tryFit(profile, { instanceType }));

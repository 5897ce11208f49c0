import { describe, expect, it } from 'vitest';
import type { GpuInstanceType } from '../../../cdk/config/instance-types.js';
import { engineSettings } from '../../../cdk/sizing/engine-settings.js';
import { checkFit, fitAll, type Fit } from '../../../cdk/sizing/fit.js';
import { modelProfileSchema, type ModelProfileInput } from '../../../cdk/sizing/profile.js';

const profile = (input: ModelProfileInput) => modelProfileSchema.parse(input);
const distill70 = (extra: Partial<ModelProfileInput> = {}) =>
  profile({
    architecture: 'deepseek-r1-distill-llama-70b',
    maxModelLen: 8192,
    concurrency: 4,
    ...extra,
  });
const r1 = (extra: Partial<ModelProfileInput> = {}) =>
  profile({
    architecture: 'deepseek-r1',
    precision: 'fp8',
    maxModelLen: 32_768,
    concurrency: 16,
    ...extra,
  });

describe('checkFit', () => {
  it.each<[string, ReturnType<typeof profile>, GpuInstanceType, RegExp]>([
    [
      'a 70B model in bf16 on 4 × A10G',
      distill70(),
      'ml.g5.12xlarge',
      /^needs 150 GiB; ml\.g5\.12xlarge has 96 GiB \(86\.4 GiB at gpuMemoryUtilization 0\.9\): use int8 or awq-int4, or ml\.g6e\.12xlarge$/,
    ],
    [
      'fp8 on an Ampere A100',
      distill70({ precision: 'fp8' }),
      'ml.p4d.24xlarge',
      /^fp8 needs FP8 tensor cores \(Ada or Hopper\); ml\.p4d\.24xlarge has A100 40GB \(ampere\): use int8 or awq-int4, or ml\.g6\.12xlarge$/,
    ],
    [
      'DeepSeek-R1 in fp8 on 8 × H100',
      r1(),
      'ml.p5.48xlarge',
      /^needs 915 GiB; ml\.p5\.48xlarge has 640 GiB \(576 GiB at gpuMemoryUtilization 0\.9\): use ml\.p5e\.48xlarge$/,
    ],
    [
      'DeepSeek-R1 in fp8 on 8 × A100 80GB',
      r1(),
      'ml.p4de.24xlarge',
      /^fp8 needs FP8 tensor cores .* has A100 80GB \(ampere\): use ml\.p5e\.48xlarge$/,
    ],
  ])('refuses %s and says what would fit', (_, p, instanceType, message) => {
    const result = checkFit(p, { instanceType });
    expect(result.fits).toBe(false);
    expect(!result.fits && result.message).toMatch(message);
  });

  it.each<[string, ReturnType<typeof profile>, GpuInstanceType, number, number]>([
    [
      'the default 8B distill on one A10G',
      profile({ architecture: 'deepseek-r1-distill-llama-8b', maxModelLen: 8192, concurrency: 4 }),
      'ml.g5.2xlarge',
      1,
      1,
    ],
    [
      'the same on 8 × A100, one copy per GPU',
      profile({ architecture: 'deepseek-r1-distill-llama-8b', maxModelLen: 8192, concurrency: 4 }),
      'ml.p4d.24xlarge',
      1,
      8,
    ],
    ['the 70B distill in bf16 on 8 × A100 40GB', distill70(), 'ml.p4d.24xlarge', 8, 1],
    [
      'the 70B distill in awq-int4 on 4 × A10G',
      distill70({ precision: 'awq-int4' }),
      'ml.g5.12xlarge',
      4,
      1,
    ],
    [
      'the 70B distill in fp8 on 4 × L40S',
      distill70({ precision: 'fp8' }),
      'ml.g6e.12xlarge',
      2,
      2,
    ],
    ['DeepSeek-R1 in fp8 on 8 × H200', r1(), 'ml.p5e.48xlarge', 8, 1],
  ])('fits %s at the smallest tensor-parallel degree', (_, p, instanceType, degree, copies) => {
    const result = checkFit(p, { instanceType }) as Fit;
    expect(result).toMatchObject({
      fits: true,
      tensorParallelDegree: degree,
      copiesPerInstance: copies,
    });
    expect(result.memory.total).toBeLessThanOrEqual(result.memory.usable);
    expect(result.kvTokensPerRequest).toBeGreaterThanOrEqual(p.maxModelLen);
  });

  it('counts the KV cache for context × concurrency: doubling either doubles it', () => {
    const base = checkFit(distill70(), { instanceType: 'ml.p4de.24xlarge' }) as Fit;
    const longer = checkFit(distill70({ maxModelLen: 16_384 }), {
      instanceType: 'ml.p4de.24xlarge',
    }) as Fit;
    const wider = checkFit(distill70({ concurrency: 8 }), {
      instanceType: 'ml.p4de.24xlarge',
    }) as Fit;
    expect(longer.tensorParallelDegree).toBe(base.tensorParallelDegree);
    expect(longer.memory.kvCache).toBe(2 * base.memory.kvCache);
    expect(wider.memory.kvCache).toBe(2 * base.memory.kvCache);
    expect(wider.kvTokensPerRequest).toBe(Math.floor(base.kvTokens / 8));
  });

  it('keeps the tensor-parallel degree a profile pins, and refuses it where the GPUs are too few', () => {
    expect(
      checkFit(distill70({ tensorParallelDegree: 8 }), { instanceType: 'ml.p4d.24xlarge' }),
    ).toMatchObject({ fits: true, tensorParallelDegree: 8, copiesPerInstance: 1 });
    expect(
      checkFit(distill70({ tensorParallelDegree: 8 }), { instanceType: 'ml.g5.12xlarge' }),
    ).toMatchObject({ fits: false, reason: 'gpus' });
  });

  it('sizes an inference component on the GPUs it is given, not the whole instance', () => {
    const p = distill70({ precision: 'awq-int4' });
    expect(checkFit(p, { instanceType: 'ml.g5.12xlarge', gpus: 4 })).toMatchObject({
      fits: true,
      tensorParallelDegree: 4,
    });
    const two = checkFit(p, { instanceType: 'ml.g5.12xlarge', gpus: 2 });
    expect(two).toMatchObject({ fits: false, reason: 'memory' });
    expect(!two.fits && two.message).toMatch(
      /ml\.g5\.12xlarge has 48 GiB on the 2 GPUs a copy gets/,
    );
  });

  it('fits DeepSeek-R1 in fp8 only on H200 instances', () => {
    expect(
      fitAll(r1())
        .filter((f) => f.fits)
        .map((f) => f.instanceType),
    ).toEqual(['ml.p5e.48xlarge', 'ml.p5en.48xlarge']);
  });
});

describe('engineSettings', () => {
  const fit = checkFit(
    distill70({ precision: 'fp8', quantizeAtLoad: true, kvCachePrecision: 'fp8' }),
    { instanceType: 'ml.g6e.12xlarge' },
  ) as Fit;
  const p = distill70({ precision: 'fp8', quantizeAtLoad: true, kvCachePrecision: 'fp8' });

  it('derives LMI, vLLM and SGLang settings from the same profile and fit', () => {
    expect(engineSettings('lmi', p, fit)).toEqual({
      OPTION_TENSOR_PARALLEL_DEGREE: '2',
      OPTION_MAX_MODEL_LEN: '8192',
      OPTION_MAX_ROLLING_BATCH_SIZE: '4',
      OPTION_GPU_MEMORY_UTILIZATION: '0.9',
      OPTION_QUANTIZE: 'fp8',
      OPTION_KV_CACHE_DTYPE: 'fp8',
    });
    expect(engineSettings('vllm', p, fit)).toEqual({
      SM_VLLM_TENSOR_PARALLEL_SIZE: '2',
      SM_VLLM_MAX_MODEL_LEN: '8192',
      SM_VLLM_MAX_NUM_SEQS: '4',
      SM_VLLM_GPU_MEMORY_UTILIZATION: '0.9',
      SM_VLLM_QUANTIZATION: 'fp8',
      SM_VLLM_KV_CACHE_DTYPE: 'fp8',
    });
    expect(engineSettings('sglang', p, fit)).toMatchObject({
      SM_SGLANG_TP: '2',
      SM_SGLANG_CONTEXT_LENGTH: '8192',
      SM_SGLANG_MAX_RUNNING_REQUESTS: '4',
    });
  });

  it('leaves quantization unset for a pre-quantized checkpoint', () => {
    const awq = distill70({ precision: 'awq-int4' });
    const settings = engineSettings('lmi', awq, { tensorParallelDegree: 4 });
    expect(settings).not.toHaveProperty('OPTION_QUANTIZE');
    expect(settings).not.toHaveProperty('OPTION_KV_CACHE_DTYPE');
  });
});

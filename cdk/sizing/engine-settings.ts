import type { GpuInstanceType } from '../config/instance-types.js';
import { checkFit, type Fit } from './fit.js';
import type { ModelProfile } from './profile.js';

/** Serving engines whose settings derive from a profile. */
export type Engine = 'lmi' | 'vllm' | 'sglang';

/**
 * The container environment that serves `profile` as `fit` places it, per engine.
 *
 * - LMI (DJL Serving, vLLM backend): `OPTION_TENSOR_PARALLEL_DEGREE` and
 *   `OPTION_MAX_ROLLING_BATCH_SIZE` (configurations.md), `OPTION_QUANTIZE=fp8` for runtime
 *   quantization only — a pre-quantized checkpoint carries its own `quantization_config`, and
 *   LMI asks not to set it then (vllm_user_guide.md) — and vLLM engine arguments passed through as
 *   `OPTION_<ARG>`: `OPTION_MAX_MODEL_LEN`, `OPTION_GPU_MEMORY_UTILIZATION`,
 *   `OPTION_KV_CACHE_DTYPE`.
 * - vLLM's SageMaker image: `SM_VLLM_<ARG>` becomes `--<arg>` (docs/containers.md):
 *   `--tensor-parallel-size`, `--max-model-len`, `--max-num-seqs`, `--gpu-memory-utilization`,
 *   `--quantization`, `--kv-cache-dtype`.
 * - SGLang's SageMaker image: `SM_SGLANG_<ARG>` becomes `--<arg>`: `--tp`, `--context-length`,
 *   `--max-running-requests`, `--mem-fraction-static` (SGLang's share for weights and KV pool),
 *   `--quantization`, `--kv-cache-dtype` (`fp8_e4m3`).
 */
export function engineSettings(
  engine: Engine,
  profile: ModelProfile,
  fit: Pick<Fit, 'tensorParallelDegree'>,
): Record<string, string> {
  const tp = String(fit.tensorParallelDegree);
  const len = String(profile.maxModelLen);
  const seqs = String(profile.concurrency);
  const util = String(profile.gpuMemoryUtilization);
  const fp8Kv = profile.kvCachePrecision === 'fp8';
  const quantize = profile.quantizeAtLoad;
  switch (engine) {
    case 'lmi':
      return {
        OPTION_TENSOR_PARALLEL_DEGREE: tp,
        OPTION_MAX_MODEL_LEN: len,
        OPTION_MAX_ROLLING_BATCH_SIZE: seqs,
        OPTION_GPU_MEMORY_UTILIZATION: util,
        ...(quantize ? { OPTION_QUANTIZE: 'fp8' } : {}),
        ...(fp8Kv ? { OPTION_KV_CACHE_DTYPE: 'fp8' } : {}),
      };
    case 'vllm':
      return {
        SM_VLLM_TENSOR_PARALLEL_SIZE: tp,
        SM_VLLM_MAX_MODEL_LEN: len,
        SM_VLLM_MAX_NUM_SEQS: seqs,
        SM_VLLM_GPU_MEMORY_UTILIZATION: util,
        ...(quantize ? { SM_VLLM_QUANTIZATION: 'fp8' } : {}),
        ...(fp8Kv ? { SM_VLLM_KV_CACHE_DTYPE: 'fp8' } : {}),
      };
    case 'sglang':
      return {
        SM_SGLANG_TP: tp,
        SM_SGLANG_CONTEXT_LENGTH: len,
        SM_SGLANG_MAX_RUNNING_REQUESTS: seqs,
        SM_SGLANG_MEM_FRACTION_STATIC: util,
        ...(quantize ? { SM_SGLANG_QUANTIZATION: 'fp8' } : {}),
        ...(fp8Kv ? { SM_SGLANG_KV_CACHE_DTYPE: 'fp8_e4m3' } : {}),
      };
  }
}

/**
 * The LMI engine options of a profiled model where it runs: on a variant, the fit on its
 * instance type chooses the tensor-parallel degree; an inference component's copy uses the GPUs
 * it is given (`acceleratorDevices`).
 *
 * @throws Error when the model does not fit the variant's instance type; the config check
 * refuses such a variant first, with the same message.
 */
export function lmiEngineOptions(
  profile: ModelProfile,
  placement: { readonly instanceType: GpuInstanceType } | { readonly acceleratorDevices: number },
): Record<string, string> {
  if ('acceleratorDevices' in placement) {
    return engineSettings('lmi', profile, { tensorParallelDegree: placement.acceleratorDevices });
  }
  const fit = checkFit(profile, placement);
  if (!fit.fits) throw new Error(`${profile.name}: ${fit.message}`);
  return engineSettings('lmi', profile, fit);
}

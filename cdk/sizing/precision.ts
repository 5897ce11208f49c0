import type { TensorCorePrecision } from '../config/instance-types.js';

/** Precisions a model's weights can be served in, lightest last. */
export const PRECISIONS = ['bf16', 'fp8', 'int8', 'awq-int4', 'gptq-int4'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface PrecisionFacts {
  /** Bytes one weight takes (4-bit formats: half a byte, before group scales). */
  readonly bytesPerParameter: number;
  /**
   * The tensor-core format the matrix multiplications run in: FP8 and INT8 (W8A8) need those
   * formats in hardware; AWQ and GPTQ are weight-only 4-bit formats whose kernels dequantize to
   * FP16, so any GPU with FP16 tensor cores runs them.
   */
  readonly computesIn: TensorCorePrecision;
}

/**
 * Bytes per weight as the LMI sizing guide counts them (half precision 2, 8-bit 1:
 * `serving/docs/lmi/deployment_guide/instance-type-selection.md` in deepjavalibrary/djl-serving)
 * and 4-bit at half a byte, as Hugging Face's Llama 3.1 memory table does (70B at INT4: 35 GB).
 */
export const PRECISION_FACTS: Readonly<Record<Precision, PrecisionFacts>> = {
  bf16: { bytesPerParameter: 2, computesIn: 'bf16' },
  fp8: { bytesPerParameter: 1, computesIn: 'fp8' },
  int8: { bytesPerParameter: 1, computesIn: 'int8' },
  'awq-int4': { bytesPerParameter: 0.5, computesIn: 'fp16' },
  'gptq-int4': { bytesPerParameter: 0.5, computesIn: 'fp16' },
};

/** KV-cache element formats: `auto` keeps the model's activation type (BF16, 2 bytes). */
export const KV_CACHE_PRECISIONS = ['auto', 'fp8'] as const;
export type KvCachePrecision = (typeof KV_CACHE_PRECISIONS)[number];
export const KV_CACHE_BYTES: Readonly<Record<KvCachePrecision, number>> = { auto: 2, fp8: 1 };

import { z } from 'zod';

/** SageMaker names are part of ARNs, which SageMaker lower-cases; we require lower case up front. */
export const sagemakerName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](-*[a-z0-9])*$/, 'must be lower-case letters, digits and hyphens');

/** NVIDIA GPU architecture generations of the instance types below. */
export type GpuGeneration = 'ampere' | 'ada' | 'hopper';

/** Number formats a GPU's tensor cores compute in. */
export type TensorCorePrecision = 'fp16' | 'bf16' | 'tf32' | 'fp8' | 'int8' | 'int4';

/**
 * Tensor-core precisions per generation, from NVIDIA's architecture documents: Ampere (A100
 * whitepaper; A10G is GA102, same third-generation tensor cores) computes TF32, FP16, BF16, INT8
 * and INT4; Ada (L4, L40S: fourth generation) adds FP8; Hopper (H100, H200) computes FP8, FP16,
 * BF16, TF32 and INT8, and has no INT4 tensor-core path.
 */
export const GENERATION_PRECISIONS: Readonly<
  Record<GpuGeneration, readonly TensorCorePrecision[]>
> = {
  ampere: ['tf32', 'fp16', 'bf16', 'int8', 'int4'],
  ada: ['tf32', 'fp16', 'bf16', 'fp8', 'int8', 'int4'],
  hopper: ['tf32', 'fp16', 'bf16', 'fp8', 'int8'],
};

/** One GPU instance type: the facts the constructs and the fit check need. */
export interface GpuInstanceFacts {
  /** GPUs per instance. */
  readonly gpus: number;
  /** Memory per GPU, GiB, as AWS lists it for the instance type. */
  readonly gpuMemoryGiB: number;
  /** The GPU model. */
  readonly gpu: 'A10G' | 'L4' | 'L40S' | 'A100 40GB' | 'A100 80GB' | 'H100' | 'H200';
  readonly generation: GpuGeneration;
  /**
   * Local NVMe instance storage: SageMaker rejects a `KmsKeyId` for ML storage volumes on such
   * instances (the NVMe volumes are encrypted by the hardware).
   */
  readonly instanceStorage: boolean;
}

const g = (
  gpus: number,
  gpuMemoryGiB: number,
  gpu: GpuInstanceFacts['gpu'],
  generation: GpuGeneration,
): GpuInstanceFacts => ({ gpus, gpuMemoryGiB, gpu, generation, instanceStorage: true });
const a10g = (gpus: number) => g(gpus, 24, 'A10G', 'ampere');
const l4 = (gpus: number) => g(gpus, 24, 'L4', 'ada');
const l40s = (gpus: number) => g(gpus, 48, 'L40S', 'ada');

/**
 * GPU instance types the endpoints run on. Sources (GPU count, GPU, memory per GPU, NVMe storage):
 * - Amazon EC2 accelerated computing instance specifications,
 *   https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html (G5: A10G 24 GiB; G6: L4
 *   24 GiB; G6e: L40S 48 GiB; P4d: A100 40 GiB; P4de: A100 80 GB; P5: H100 80 GB; P5e and P5en:
 *   H200 141 GB; every family with local NVMe SSD storage).
 * - The product pages https://aws.amazon.com/ec2/instance-types/g5/, /g6/, /g6e/, /p4/, /p5/.
 * - SageMaker hosting offers them as `ml.<type>` (https://aws.amazon.com/sagemaker/pricing/,
 *   real-time inference); availability differs by region, so check the region before deploying.
 */
export const GPU_INSTANCE_TYPES = {
  'ml.g5.xlarge': a10g(1),
  'ml.g5.2xlarge': a10g(1),
  'ml.g5.4xlarge': a10g(1),
  'ml.g5.8xlarge': a10g(1),
  'ml.g5.16xlarge': a10g(1),
  'ml.g5.12xlarge': a10g(4),
  'ml.g5.24xlarge': a10g(4),
  'ml.g5.48xlarge': a10g(8),
  'ml.g6.xlarge': l4(1),
  'ml.g6.2xlarge': l4(1),
  'ml.g6.4xlarge': l4(1),
  'ml.g6.8xlarge': l4(1),
  'ml.g6.16xlarge': l4(1),
  'ml.g6.12xlarge': l4(4),
  'ml.g6.24xlarge': l4(4),
  'ml.g6.48xlarge': l4(8),
  'ml.g6e.xlarge': l40s(1),
  'ml.g6e.2xlarge': l40s(1),
  'ml.g6e.4xlarge': l40s(1),
  'ml.g6e.8xlarge': l40s(1),
  'ml.g6e.16xlarge': l40s(1),
  'ml.g6e.12xlarge': l40s(4),
  'ml.g6e.24xlarge': l40s(4),
  'ml.g6e.48xlarge': l40s(8),
  'ml.p4d.24xlarge': g(8, 40, 'A100 40GB', 'ampere'),
  'ml.p4de.24xlarge': g(8, 80, 'A100 80GB', 'ampere'),
  'ml.p5.48xlarge': g(8, 80, 'H100', 'hopper'),
  'ml.p5e.48xlarge': g(8, 141, 'H200', 'hopper'),
  'ml.p5en.48xlarge': g(8, 141, 'H200', 'hopper'),
} as const satisfies Record<string, GpuInstanceFacts>;

export type GpuInstanceType = keyof typeof GPU_INSTANCE_TYPES;

export const instanceType = z.enum(
  Object.keys(GPU_INSTANCE_TYPES) as [GpuInstanceType, ...GpuInstanceType[]],
);

/** Facts of an instance type, with its tensor-core precisions. */
export const gpuInstance = (
  type: GpuInstanceType,
): GpuInstanceFacts & {
  readonly type: GpuInstanceType;
  readonly precisions: readonly TensorCorePrecision[];
} => {
  const facts: GpuInstanceFacts = GPU_INSTANCE_TYPES[type];
  return { ...facts, type, precisions: GENERATION_PRECISIONS[facts.generation] };
};

import { z } from 'zod';

/** SageMaker names are part of ARNs, which SageMaker lower-cases; we require lower case up front. */
export const sagemakerName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](-*[a-z0-9])*$/, 'must be lower-case letters, digits and hyphens');

/** GPU instance classes the endpoints run on, with the facts the constructs need about them. */
export const GPU_INSTANCE_TYPES = {
  /** 1 × NVIDIA A10G, NVMe instance storage. */
  'ml.g5.xlarge': { gpus: 1, instanceStorage: true },
  'ml.g5.2xlarge': { gpus: 1, instanceStorage: true },
  'ml.g5.4xlarge': { gpus: 1, instanceStorage: true },
  'ml.g5.12xlarge': { gpus: 4, instanceStorage: true },
  'ml.g5.24xlarge': { gpus: 4, instanceStorage: true },
  'ml.g5.48xlarge': { gpus: 8, instanceStorage: true },
  /** 8 × NVIDIA A100 40 GB, NVMe instance storage. */
  'ml.p4d.24xlarge': { gpus: 8, instanceStorage: true },
} as const;

export type GpuInstanceType = keyof typeof GPU_INSTANCE_TYPES;

export const instanceType = z.enum(
  Object.keys(GPU_INSTANCE_TYPES) as [GpuInstanceType, ...GpuInstanceType[]],
);

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { architectureFromHfConfig, type ModelArchitecture } from './architecture.js';
import { BUILTIN_MODELS, BUILTIN_MODEL_IDS } from './builtin-models.js';
import {
  KV_CACHE_PRECISIONS,
  PRECISIONS,
  type KvCachePrecision,
  type Precision,
} from './precision.js';

/** What the fit check and the container settings read about a model and how it is served. */
export interface ModelProfile {
  /** A label for messages: the built-in id, the config file, or `model`. */
  readonly name: string;
  readonly architecture: ModelArchitecture;
  /** Precision the engine serves the weights in. */
  readonly precision: Precision;
  /** The engine quantizes a BF16 checkpoint to `precision` as it loads (LMI: FP8 only). */
  readonly quantizeAtLoad: boolean;
  /** Longest prompt + completion per request, tokens (LMI/vLLM `max_model_len`). */
  readonly maxModelLen: number;
  /** Requests one model copy runs at once (LMI `max_rolling_batch_size`, vLLM `max_num_seqs`). */
  readonly concurrency: number;
  /** GPUs one copy is split across; unset: the smallest degree that fits. */
  readonly tensorParallelDegree?: 1 | 2 | 4 | 8;
  /** Share of each GPU's memory the engine may take (vLLM `gpu_memory_utilization`). */
  readonly gpuMemoryUtilization: number;
  /** Per GPU, GiB: activations, CUDA graphs and the runtime, outside weights and KV cache. */
  readonly engineReserveGiB: number;
  readonly kvCachePrecision: KvCachePrecision;
}

const positiveInt = z.number().int().positive();

/** Architecture figures given by hand (from the model card and `config.json`). */
const explicitArchitecture = z
  .strictObject({
    /** Total parameters, billions. */
    parametersBillions: z.number().positive().max(20_000),
    layers: positiveInt.max(1000),
    attentionHeads: positiveInt.max(1024),
    /** GQA/MHA: `num_key_value_heads`. */
    kvHeads: positiveInt.max(1024).optional(),
    /** GQA/MHA: head dimension. */
    headDim: positiveInt.max(4096).optional(),
    /** MLA: `kv_lora_rank`. */
    kvLoraRank: positiveInt.max(65_536).optional(),
    /** MLA: `qk_rope_head_dim`. */
    qkRopeHeadDim: z.number().int().min(0).max(4096).optional(),
    /** `max_position_embeddings`. */
    maxContext: positiveInt.max(16_777_216),
  })
  .refine(
    (a) => (a.kvLoraRank !== undefined) !== (a.kvHeads !== undefined && a.headDim !== undefined),
    {
      message:
        'give kvHeads and headDim (grouped-query attention) or kvLoraRank (latent attention)',
      path: ['kvHeads'],
    },
  )
  .transform((a): ModelArchitecture => ({
    parameters: Math.round(a.parametersBillions * 1e9),
    layers: a.layers,
    attentionHeads: a.attentionHeads,
    attention:
      a.kvLoraRank !== undefined
        ? { kind: 'mla', kvLoraRank: a.kvLoraRank, qkRopeHeadDim: a.qkRopeHeadDim ?? 0 }
        : { kind: 'gqa', kvHeads: a.kvHeads!, headDim: a.headDim! },
    maxContext: a.maxContext,
  }));

/** A checkpoint's `config.json` on this machine, with the model card's parameter count. */
const fileArchitecture = z
  .strictObject({
    /** Path of the checkpoint's `config.json`, relative to where `cdk` runs. */
    configJson: z.string().min(1),
    /** Total parameters, billions (`config.json` does not carry them). */
    parametersBillions: z.number().positive().max(20_000),
  })
  .transform((a, ctx): ModelArchitecture => {
    try {
      const json: unknown = JSON.parse(readFileSync(a.configJson, 'utf8'));
      return architectureFromHfConfig(json, Math.round(a.parametersBillions * 1e9));
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `cannot read ${a.configJson}: ${(err as Error).message}`,
        path: ['configJson'],
      });
      return z.NEVER;
    }
  });

/**
 * A model's serving profile in the deployment config (`models[].profile`): its architecture (a
 * built-in id, a `config.json`, or the figures), the precision, context and concurrency it is
 * served with, and the engine's memory settings.
 */
export const modelProfileSchema = z
  .strictObject({
    /** `deepseek-r1-distill-llama-8b`, `deepseek-r1-distill-llama-70b`, `deepseek-r1`, or figures. */
    architecture: z.union([
      z.enum(BUILTIN_MODEL_IDS).transform((id) => ({ id, ...BUILTIN_MODELS[id].architecture })),
      fileArchitecture,
      explicitArchitecture,
    ]),
    /** @default 'bf16' */
    precision: z.enum(PRECISIONS).default('bf16'),
    /** Quantize a BF16 checkpoint to FP8 while loading (LMI `OPTION_QUANTIZE=fp8`). @default false */
    quantizeAtLoad: z.boolean().default(false),
    /** Prompt + completion tokens per request. @default 8192 */
    maxModelLen: z.number().int().min(256).max(16_777_216).default(8192),
    /** Requests one copy serves at once. @default 16 */
    concurrency: z.number().int().min(1).max(1024).default(16),
    /** GPUs per copy. @default the smallest degree that fits */
    tensorParallelDegree: z
      .union([z.literal(1), z.literal(2), z.literal(4), z.literal(8)])
      .optional(),
    /** @default 0.9 (vLLM's default) */
    gpuMemoryUtilization: z.number().min(0.5).max(0.98).default(0.9),
    /** GiB per GPU for activations, CUDA graphs and the runtime. @default 2 */
    engineReserveGiB: z.number().min(0).max(64).default(2),
    /** `fp8` halves the KV cache (vLLM `kv_cache_dtype`). @default 'auto' */
    kvCachePrecision: z.enum(KV_CACHE_PRECISIONS).default('auto'),
  })
  .refine((p) => !p.quantizeAtLoad || p.precision === 'fp8', {
    message: 'quantizeAtLoad quantizes to fp8 only (LMI runtime quantization); set precision: fp8',
    path: ['quantizeAtLoad'],
  })
  .refine((p) => p.maxModelLen <= p.architecture.maxContext, {
    message: 'maxModelLen exceeds the context the model was trained for',
    path: ['maxModelLen'],
  })
  .transform((p): ModelProfile => {
    const { architecture, ...rest } = p;
    const name = 'id' in architecture ? architecture.id : 'model';
    return { ...rest, name, architecture };
  });

export type ModelProfileInput = z.input<typeof modelProfileSchema>;

import type { ModelArchitecture } from './architecture.js';

/** A model Sluice knows without its checkpoint at hand, with where each figure comes from. */
export interface BuiltinModel {
  readonly architecture: ModelArchitecture;
  /** The precision its published checkpoint is stored in. */
  readonly checkpointPrecision: 'bf16' | 'fp8';
  readonly source: string;
}

/**
 * Architectures as published in each checkpoint's `config.json` on Hugging Face, and the
 * parameter count from the model card (config.json carries none).
 */
export const BUILTIN_MODELS = {
  /**
   * Llama-3.1-8B geometry: 32 layers, 32 heads, 8 KV heads, hidden 4096 (head 128), 131072
   * positions; bf16. 8.03 B parameters (model page).
   */
  'deepseek-r1-distill-llama-8b': {
    architecture: {
      parameters: 8.03e9,
      layers: 32,
      attentionHeads: 32,
      attention: { kind: 'gqa', kvHeads: 8, headDim: 128 },
      maxContext: 131_072,
    },
    checkpointPrecision: 'bf16',
    source: 'https://huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Llama-8B/blob/main/config.json',
  },
  /**
   * Llama-3.3-70B geometry: 80 layers, 64 heads, 8 KV heads, hidden 8192 (head 128), 131072
   * positions; bf16. 70.6 B parameters (model page).
   */
  'deepseek-r1-distill-llama-70b': {
    architecture: {
      parameters: 70.6e9,
      layers: 80,
      attentionHeads: 64,
      attention: { kind: 'gqa', kvHeads: 8, headDim: 128 },
      maxContext: 131_072,
    },
    checkpointPrecision: 'bf16',
    source:
      'https://huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Llama-70B/blob/main/config.json',
  },
  /**
   * DeepSeek-V3 architecture (`model_type: deepseek_v3`): 61 layers, 128 heads, MLA with
   * `kv_lora_rank` 512 and `qk_rope_head_dim` 64, 163840 positions; weights in FP8 (e4m3, 128×128
   * blocks, `quantization_config`). 671 B parameters, 37 B active (model card; the repository's
   * 685 B adds the 14 B multi-token-prediction module, which serving loads only for speculative
   * decoding).
   */
  'deepseek-r1': {
    architecture: {
      parameters: 671e9,
      layers: 61,
      attentionHeads: 128,
      attention: { kind: 'mla', kvLoraRank: 512, qkRopeHeadDim: 64 },
      maxContext: 163_840,
    },
    checkpointPrecision: 'fp8',
    source: 'https://huggingface.co/deepseek-ai/DeepSeek-R1/blob/main/config.json',
  },
} as const satisfies Record<string, BuiltinModel>;

export type BuiltinModelId = keyof typeof BUILTIN_MODELS;
export const BUILTIN_MODEL_IDS = Object.keys(BUILTIN_MODELS) as [
  BuiltinModelId,
  ...BuiltinModelId[],
];

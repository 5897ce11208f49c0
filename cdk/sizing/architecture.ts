import { z } from 'zod';

/**
 * The figures of a model that decide its memory: parameter count, and the attention shape that
 * sizes its KV cache. Read from the checkpoint's `config.json` ({@link architectureFromHfConfig})
 * or given.
 */
export interface ModelArchitecture {
  /** Total parameters (all experts of a mixture-of-experts model: every expert is loaded). */
  readonly parameters: number;
  /** Transformer blocks (`num_hidden_layers`). */
  readonly layers: number;
  /** Query heads (`num_attention_heads`); the tensor-parallel degree must divide it. */
  readonly attentionHeads: number;
  /** How keys and values are cached. */
  readonly attention: GroupedQueryAttention | LatentAttention;
  /** Longest context the model was trained for (`max_position_embeddings`). */
  readonly maxContext: number;
}

/** Multi-head or grouped-query attention: a key and a value vector per KV head per layer. */
export interface GroupedQueryAttention {
  readonly kind: 'gqa';
  /** `num_key_value_heads` (equal to the query heads for plain multi-head attention). */
  readonly kvHeads: number;
  /** `head_dim`, else `hidden_size / num_attention_heads`. */
  readonly headDim: number;
}

/**
 * Multi-head latent attention (DeepSeek-V2/V3/R1): one compressed latent of `kvLoraRank` plus a
 * decoupled RoPE key of `qkRopeHeadDim` per layer, instead of per-head keys and values
 * (DeepSeek-V2 paper, arXiv:2405.04434, Table 1: (d_c + d_h^R) × l elements per token).
 */
export interface LatentAttention {
  readonly kind: 'mla';
  readonly kvLoraRank: number;
  readonly qkRopeHeadDim: number;
}

/**
 * KV-cache bytes one token takes on one GPU of a tensor-parallel group.
 *
 * GQA: 2 (K and V) × layers × KV heads on this GPU × head dimension × bytes; the heads are split
 * across the group, and a GPU holds at least one (vLLM replicates KV heads when the degree
 * exceeds their number). MLA: layers × (latent + RoPE key) × bytes, and the whole latent sits on
 * every GPU of the group (it is shared by all heads, so it is not split).
 */
export function kvBytesPerTokenPerGpu(
  arch: ModelArchitecture,
  tensorParallel: number,
  bytesPerElement: number,
): number {
  const a = arch.attention;
  if (a.kind === 'mla') return arch.layers * (a.kvLoraRank + a.qkRopeHeadDim) * bytesPerElement;
  const headsPerGpu = Math.ceil(a.kvHeads / tensorParallel);
  return 2 * arch.layers * headsPerGpu * a.headDim * bytesPerElement;
}

const positiveInt = z.number().int().positive();

/** The `config.json` fields the sizing reads (Hugging Face Transformers names). */
const hfConfigSchema = z.looseObject({
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.optional(),
  hidden_size: positiveInt,
  head_dim: positiveInt.optional(),
  kv_lora_rank: positiveInt.nullish(),
  qk_rope_head_dim: positiveInt.optional(),
  max_position_embeddings: positiveInt,
});

/**
 * The architecture from a Hugging Face `config.json`. `config.json` carries no parameter count,
 * so it is passed in (the model card's, or the sum of the safetensors index).
 *
 * @throws Error naming the missing or invalid field.
 */
export function architectureFromHfConfig(json: unknown, parameters: number): ModelArchitecture {
  const parsed = hfConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`config.json: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const attention: ModelArchitecture['attention'] = c.kv_lora_rank
    ? { kind: 'mla', kvLoraRank: c.kv_lora_rank, qkRopeHeadDim: c.qk_rope_head_dim ?? 0 }
    : {
        kind: 'gqa',
        kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
        headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
      };
  return {
    parameters,
    layers: c.num_hidden_layers,
    attentionHeads: c.num_attention_heads,
    attention,
    maxContext: c.max_position_embeddings,
  };
}

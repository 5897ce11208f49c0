import { describe, expect, it } from 'vitest';
import {
  architectureFromHfConfig,
  kvBytesPerTokenPerGpu,
  type ModelArchitecture,
} from '../../../cdk/sizing/architecture.js';
import { BUILTIN_MODELS } from '../../../cdk/sizing/builtin-models.js';
import { GIB, checkFit } from '../../../cdk/sizing/fit.js';
import { PRECISION_FACTS, type Precision } from '../../../cdk/sizing/precision.js';
import { modelProfileSchema } from '../../../cdk/sizing/profile.js';

const GB = 1e9;
const gqa = (
  parameters: number,
  layers: number,
  heads: number,
  kvHeads: number,
  headDim: number,
): ModelArchitecture => ({
  parameters,
  layers,
  attentionHeads: heads,
  attention: { kind: 'gqa', kvHeads, headDim },
  maxContext: 131_072,
});
/** Llama 3.1 geometry (Llama 3 paper, Table 3; the checkpoints' config.json). */
const LLAMA_31 = {
  '8B': gqa(8e9, 32, 32, 8, 128),
  '70B': gqa(70e9, 80, 64, 8, 128),
  '405B': gqa(405e9, 126, 128, 8, 128),
};
const weights = (arch: ModelArchitecture, precision: Precision) =>
  arch.parameters * PRECISION_FACTS[precision].bytesPerParameter;

describe('memory figures the fit check reproduces', () => {
  // Hugging Face, "Llama 3.1 - 405B, 70B & 8B with multilinguality and long context",
  // https://huggingface.co/blog/llama31#inference-memory-requirements — weights table (GB):
  // 8B 16 / 8 / 4, 70B 140 / 70 / 35, 405B 810 / 405 / 203 at FP16 / FP8 / INT4.
  it.each([
    ['8B', 16, 8, 4],
    ['70B', 140, 70, 35],
    ['405B', 810, 405, 203],
  ] as const)(
    'weighs Llama 3.1 %s as the Hugging Face table does at bf16, fp8 and int4',
    (size, bf16, fp8, int4) => {
      const arch = LLAMA_31[size];
      expect(weights(arch, 'bf16') / GB).toBe(bf16);
      expect(weights(arch, 'fp8') / GB).toBe(fp8);
      expect(weights(arch, 'int8') / GB).toBe(fp8);
      expect(Math.round(weights(arch, 'awq-int4') / GB)).toBe(int4);
      expect(Math.round(weights(arch, 'gptq-int4') / GB)).toBe(int4);
    },
  );

  // Same page, KV-cache table at FP16 (GB there is GiB, 1k = 1024 tokens, 16k = 16000, 128k =
  // 128000): 8B 0.125 / 1.95 / 15.62, 70B 0.313 / 4.88 / 39.06. (Its 405B row assumed 16 KV
  // heads; the released checkpoint has 8, so that row is not reproduced.)
  it.each([
    ['8B', 1024, 0.125],
    ['8B', 16_000, 1.95],
    ['8B', 128_000, 15.62],
    ['70B', 1024, 0.313],
    ['70B', 16_000, 4.88],
    ['70B', 128_000, 39.06],
  ] as const)(
    'sizes the KV cache of Llama 3.1 %s for %i tokens as the Hugging Face table does',
    (size, tokens, published) => {
      const bytes = kvBytesPerTokenPerGpu(LLAMA_31[size], 1, 2) * tokens;
      // Within rounding of the table's last printed digit.
      const decimals = String(published).split('.')[1]!.length;
      expect(Math.abs(bytes / GIB - published)).toBeLessThanOrEqual(0.5 * 10 ** -decimals + 1e-9);
    },
  );

  // LMI (DJL Serving) instance type selection guide,
  // serving/docs/lmi/deployment_guide/instance-type-selection.md: Llama2-13b is 26 GB at half
  // precision; its KV cache is 2 × 2 × 5120 × 40 = 819,200 bytes per token, 3.36 GB for one
  // 4096-token sequence.
  it('reproduces the LMI guide’s Llama2-13b weights and KV cache', () => {
    const llama2 = { ...gqa(13e9, 40, 40, 40, 128), maxContext: 4096 };
    expect(weights(llama2, 'bf16') / GB).toBe(26);
    expect(kvBytesPerTokenPerGpu(llama2, 1, 2)).toBe(819_200);
    expect(((kvBytesPerTokenPerGpu(llama2, 1, 2) * 4096) / GB).toFixed(2)).toBe('3.36');
  });

  // DeepSeek-V2 paper (arXiv:2405.04434), Table 1: MLA caches (d_c + d_h^R) × l elements per
  // token. DeepSeek-R1's config.json: kv_lora_rank 512, qk_rope_head_dim 64, 61 layers.
  it('caches DeepSeek-R1’s latent attention as (512 + 64) × 61 elements per token on every GPU', () => {
    const r1 = BUILTIN_MODELS['deepseek-r1'].architecture;
    expect(kvBytesPerTokenPerGpu(r1, 1, 2)).toBe(576 * 61 * 2);
    expect(kvBytesPerTokenPerGpu(r1, 8, 2)).toBe(576 * 61 * 2);
    expect(kvBytesPerTokenPerGpu(r1, 8, 1)).toBe(576 * 61);
  });

  it('splits grouped-query KV heads across GPUs and keeps at least one per GPU', () => {
    const arch = LLAMA_31['70B'];
    expect(kvBytesPerTokenPerGpu(arch, 1, 2)).toBe(327_680);
    expect(kvBytesPerTokenPerGpu(arch, 4, 2)).toBe(327_680 / 4);
    expect(
      kvBytesPerTokenPerGpu(
        { ...arch, attention: { kind: 'gqa', kvHeads: 4, headDim: 128 } },
        8,
        2,
      ),
    ).toBe(2 * 80 * 1 * 128 * 2);
  });
});

describe('architectures read from config.json', () => {
  it('reads grouped-query and latent attention as the built-in profiles state them', () => {
    const distill = architectureFromHfConfig(
      {
        hidden_size: 8192,
        num_hidden_layers: 80,
        num_attention_heads: 64,
        num_key_value_heads: 8,
        max_position_embeddings: 131_072,
        torch_dtype: 'bfloat16',
      },
      70.6e9,
    );
    expect(distill).toEqual(BUILTIN_MODELS['deepseek-r1-distill-llama-70b'].architecture);
    const r1 = architectureFromHfConfig(
      {
        hidden_size: 7168,
        num_hidden_layers: 61,
        num_attention_heads: 128,
        num_key_value_heads: 128,
        kv_lora_rank: 512,
        qk_rope_head_dim: 64,
        qk_nope_head_dim: 128,
        v_head_dim: 128,
        max_position_embeddings: 163_840,
      },
      671e9,
    );
    expect(r1).toEqual(BUILTIN_MODELS['deepseek-r1'].architecture);
  });

  it('names the missing field', () => {
    expect(() => architectureFromHfConfig({ hidden_size: 4096 }, 1e9)).toThrow(/num_hidden_layers/);
  });
});

describe('profile', () => {
  it('refuses a context longer than the model was trained for, naming the field', () => {
    const result = modelProfileSchema.safeParse({
      architecture: 'deepseek-r1-distill-llama-8b',
      maxModelLen: 262_144,
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['maxModelLen']);
  });

  it('refuses runtime quantization to anything but fp8', () => {
    const result = modelProfileSchema.safeParse({
      architecture: 'deepseek-r1-distill-llama-8b',
      precision: 'int8',
      quantizeAtLoad: true,
    });
    expect(result.error?.issues[0]?.message).toMatch(/fp8 only/);
  });

  it('takes figures by hand and sizes them like a built-in', () => {
    const p = modelProfileSchema.parse({
      architecture: {
        parametersBillions: 8.03,
        layers: 32,
        attentionHeads: 32,
        kvHeads: 8,
        headDim: 128,
        maxContext: 131_072,
      },
      maxModelLen: 8192,
      concurrency: 4,
    });
    const builtin = modelProfileSchema.parse({
      architecture: 'deepseek-r1-distill-llama-8b',
      maxModelLen: 8192,
      concurrency: 4,
    });
    expect(checkFit(p, { instanceType: 'ml.g5.2xlarge' })).toEqual(
      checkFit(builtin, { instanceType: 'ml.g5.2xlarge' }),
    );
  });
});

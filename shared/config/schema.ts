import { z } from 'zod';

/**
 * The gateway's configuration: the model catalogue and the knobs around it. One schema,
 * validated once at start-up, so that a bad value stops the process with a message naming the
 * field instead of failing a request later.
 */

const name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/, 'must be a SageMaker name: letters, digits and hyphens');

/** One place a model's traffic can go: a SageMaker endpoint, optionally pinned to a variant. */
export const targetSchema = z.strictObject({
  /** Stable id used by the admin API (`stable`, `canary`, `g5`). */
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be lower-case letters, digits, . _ -'),
  endpoint: name,
  /** `TargetVariant` of `InvokeEndpoint`; omitted lets the endpoint's own weights decide. */
  variant: name.optional(),
  /** Share of requests, 0–100; the weights of a model's targets sum to 100. */
  weight: z.number().int().min(0).max(100).default(100),
});

export const batchSchema = z.strictObject({
  /** @default 64 */
  maxBatchSize: z.number().int().min(1).max(1024).default(64),
  /** @default 10 */
  maxDelayMs: z.number().min(0).max(1000).default(10),
  /** Batches in flight per target before new ones wait for the timer or a full batch. @default 2 */
  maxInflightBatches: z.number().int().min(1).max(256).default(2),
});

export const admitSchema = z.strictObject({
  /** Requests in flight per target (the engine's continuous-batching budget). @default 32 */
  maxConcurrency: z.number().int().min(1).max(4096).default(32),
  /** Requests waiting per target before new ones get 429. @default 256 */
  maxQueue: z.number().int().min(0).max(100_000).default(256),
  /** Longest a request may wait in the queue before it fails with 504. @default 30000 */
  queueTimeoutMs: z.number().int().min(1).max(600_000).default(30_000),
});

export const modelSchema = z
  .strictObject({
    /** Public id clients pass as `model`. */
    id: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/,
        'must be 1–128 characters of letters, digits and . _ : / -',
      ),
    /** `chat` serves chat and text completions; `completion` text only; `embedding` embeddings. */
    kind: z.enum(['chat', 'completion', 'embedding']),
    /** `batch` for encoders, `admit` for continuous-batching engines. */
    policy: z.enum(['batch', 'admit']),
    /** Share one upstream call between identical in-flight deterministic requests of a tenant. @default true */
    dedupe: z.boolean().default(true),
    /** Wire schema of the container: `tgi` (TGI / LMI `inputs`+`parameters`) or `tei` (embeddings). */
    format: z.enum(['tgi', 'tei']),
    /** How chat messages become a prompt for `tgi` containers. @default 'chatml' */
    chatTemplate: z.enum(['chatml', 'deepseek', 'plain']).default('chatml'),
    /** Shorthand for a single target named `default`. */
    endpoint: name.optional(),
    variant: name.optional(),
    targets: z.array(targetSchema).min(1).max(8).optional(),
    limits: z
      .strictObject({
        /** Upper bound for `max_tokens`. @default 4096 */
        maxTokens: z.number().int().min(1).max(1_000_000).default(4096),
        /** `max_tokens` when the client sends none. @default 256 */
        defaultMaxTokens: z.number().int().min(1).max(1_000_000).default(256),
        /** Inputs per embeddings request. @default 256 */
        maxInputs: z.number().int().min(1).max(10_000).default(256),
        /** Characters per prompt or input. @default 200000 */
        maxInputChars: z.number().int().min(1).max(5_000_000).default(200_000),
      })
      .prefault({}),
    batch: batchSchema.prefault({}),
    admit: admitSchema.prefault({}),
    /** Upstream timeout for one invocation. @default 60000 */
    timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Embedding dimension, reported by `/v1/models` when known. */
    dimensions: z.number().int().min(1).optional(),
  })
  .transform((m, ctx) => {
    const targets =
      m.targets ??
      (m.endpoint
        ? [{ id: 'default', endpoint: m.endpoint, variant: m.variant, weight: 100 }]
        : []);
    if (targets.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs `endpoint` or `targets`',
        path: ['endpoint'],
      });
      return z.NEVER;
    }
    if (m.targets && m.endpoint) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either `endpoint` or `targets`, not both',
        path: ['endpoint'],
      });
      return z.NEVER;
    }
    const sum = targets.reduce((s, t) => s + t.weight, 0);
    if (sum !== 100) {
      ctx.addIssue({
        code: 'custom',
        message: `target weights sum to ${sum}, not 100`,
        path: ['targets'],
      });
      return z.NEVER;
    }
    if (new Set(targets.map((t) => t.id)).size !== targets.length) {
      ctx.addIssue({ code: 'custom', message: 'target ids must be unique', path: ['targets'] });
      return z.NEVER;
    }
    if (m.kind === 'embedding' ? m.format !== 'tei' : m.format !== 'tgi') {
      ctx.addIssue({
        code: 'custom',
        message: `format ${m.format} does not serve kind ${m.kind}`,
        path: ['format'],
      });
      return z.NEVER;
    }
    if (m.limits.defaultMaxTokens > m.limits.maxTokens) {
      ctx.addIssue({
        code: 'custom',
        message: 'defaultMaxTokens exceeds maxTokens',
        path: ['limits', 'defaultMaxTokens'],
      });
      return z.NEVER;
    }
    const { endpoint: _e, variant: _v, ...rest } = m;
    return { ...rest, targets };
  });

export const gatewayConfigSchema = z
  .strictObject({
    models: z.array(modelSchema).min(1),
    /** Request body limit in bytes (SageMaker's own payload limit is 6 MB). @default 1048576 */
    maxBodyBytes: z.number().int().min(1024).max(6_000_000).default(1_048_576),
    upstream: z
      .strictObject({
        /** AWS region of the endpoints. @default 'us-east-1' */
        region: z.string().min(1).default('us-east-1'),
        /** Override of the SageMaker Runtime URL (the local endpoint in local mode). */
        endpointUrl: z.url().optional(),
        /** How long `/readyz` waits for each endpoint. @default 2000 */
        readyTimeoutMs: z.number().int().min(50).max(60_000).default(2000),
        /** Sockets kept open to SageMaker Runtime. @default 256 */
        maxSockets: z.number().int().min(1).max(10_000).default(256),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.models.forEach((m, i) => {
      if (seen.has(m.id))
        ctx.addIssue({
          code: 'custom',
          message: `duplicate model id ${m.id}`,
          path: ['models', i, 'id'],
        });
      seen.add(m.id);
    });
  });

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type ModelConfig = GatewayConfig['models'][number];
export type TargetConfig = ModelConfig['targets'][number];

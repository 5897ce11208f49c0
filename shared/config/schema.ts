import { z } from 'zod';
import {
  FORMAT_PARAMETERS,
  GENERATION_PARAMETERS,
  defaultFormat,
  type GenerationFormat,
  type GenerationParameter,
} from './parameters.js';

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
  /**
   * `InferenceComponentName` of `InvokeEndpoint`: the model runs as an inference component on a
   * shared endpoint. Readiness then checks the component, not only the endpoint.
   */
  inferenceComponent: name.optional(),
});

export const batchSchema = z.strictObject({
  /** @default 64 */
  maxBatchSize: z.number().int().min(1).max(1024).default(64),
  /** @default 10 */
  maxDelayMs: z.number().min(0).max(1000).default(10),
  /** Batches in flight per target before new ones wait for the timer or a full batch. @default 2 */
  maxInflightBatches: z.number().int().min(1).max(256).default(2),
  /**
   * Hard cap on batches in flight per target: past it, even a full or timed-out batch waits for
   * one to finish, so overload queues here (bounded by `maxQueuedItems`) instead of at the GPU.
   * @default 8
   */
  maxConcurrentBatches: z.number().int().min(1).max(1024).default(8),
  /** Items waiting per target before new ones get 429 with `Retry-After`. @default 4096 */
  maxQueuedItems: z.number().int().min(1).max(1_000_000).default(4096),
});

export const admitSchema = z.strictObject({
  /** Requests in flight per target (the engine's continuous-batching budget). @default 32 */
  maxConcurrency: z.number().int().min(1).max(4096).default(32),
  /** Requests waiting per target before new ones get 429. @default 256 */
  maxQueue: z.number().int().min(0).max(100_000).default(256),
  /** Longest a request may wait in the queue before it fails with 504. @default 30000 */
  queueTimeoutMs: z.number().int().min(1).max(600_000).default(30_000),
  /**
   * Slots one tenant may hold per target; its further requests wait while others are served.
   * @default maxConcurrency (no cap beyond fair turns)
   */
  maxPerTenant: z.number().int().min(1).max(4096).optional(),
  /** Fair-share weights by tenant id (2 is served twice as often as 1). @default 1 each */
  tenantWeights: z.record(z.string().min(1), z.number().positive().max(1000)).default({}),
});

export const breakerSchema = z.strictObject({
  /** Consecutive upstream failures that open a target's circuit. @default 5 */
  failureThreshold: z.number().int().min(1).max(1000).default(5),
  /** How long an open circuit refuses before one probe goes through. @default 30000 */
  cooldownMs: z.number().int().min(100).max(3_600_000).default(30_000),
});

/**
 * Retries of one upstream call, per model: only throttling, 503 and connections refused or reset
 * before any byte, never a container's 4xx, never once a stream has yielded (see
 * docs/operations.md).
 */
export const retrySchema = z.strictObject({
  /** Upstream calls per request and target, the first included; 1 turns retries off. @default 3 */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  /** First backoff (full jitter, doubling per attempt). @default 100 */
  baseDelayMs: z.number().int().min(1).max(60_000).default(100),
  /** Longest backoff, and the longest upstream `Retry-After` honoured. @default 2000 */
  maxDelayMs: z.number().int().min(1).max(600_000).default(2000),
  /** Retries allowed over the window, as a percentage of first attempts. @default 10 */
  budgetPercent: z.number().min(0).max(100).default(10),
  /** Retries always allowed per window, so a quiet model can still retry. @default 5 */
  budgetMinRetries: z.number().int().min(0).max(100_000).default(5),
  /** Sliding window of the retry budget. @default 10000 */
  budgetWindowMs: z.number().int().min(1000).max(3_600_000).default(10_000),
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
    /**
     * Wire schema of the container: `openai` (LMI, vLLM, SGLang take the OpenAI body on
     * `/invocations` and apply the model's own chat template, tool and reasoning parsers), `tei`
     * (embeddings), or the legacy `tgi` (`inputs`+`parameters`, chat template rendered here).
     * @default 'openai' for chat and completion models, 'tei' for embedding models
     */
    format: z.enum(['openai', 'tgi', 'tei']).optional(),
    /** How chat messages become a prompt; only `tgi` containers need it. @default 'chatml' */
    chatTemplate: z.enum(['chatml', 'deepseek', 'plain']).default('chatml'),
    /**
     * The `model` value sent upstream in the `openai` format: the container's served model name
     * where it checks one (vLLM `--served-model-name`). @default omitted from the upstream body
     */
    upstreamModel: z.string().min(1).max(256).optional(),
    /**
     * Where the model's reasoning (DeepSeek-R1's chain of thought) comes from: `field` passes the
     * container's `reasoning_content` through (its reasoning parser split it out); `think-tags`
     * splits `<think>…</think>` out of `content` here, for containers without a reasoning
     * parser; `none` drops reasoning from answers. @default 'field'
     */
    reasoning: z.enum(['field', 'think-tags', 'none']).default('field'),
    /**
     * Optional OpenAI parameters requests may use; anything else is a 400 naming the parameter.
     * @default every parameter the format can express (see `shared/config/parameters.ts`)
     */
    parameters: z.array(z.enum(GENERATION_PARAMETERS)).max(GENERATION_PARAMETERS.length).optional(),
    /** Accept `image_url` content parts (vision models). @default false */
    images: z.boolean().default(false),
    /** Shorthand for a single target named `default`. */
    endpoint: name.optional(),
    variant: name.optional(),
    inferenceComponent: name.optional(),
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
        /** Upper bound for `n` (choices per request; each is a sequence on the engine). @default 1 */
        maxChoices: z.number().int().min(1).max(128).default(1),
        /** Tools per request. @default 128 */
        maxTools: z.number().int().min(1).max(1024).default(128),
      })
      .prefault({}),
    batch: batchSchema.prefault({}),
    admit: admitSchema.prefault({}),
    breaker: breakerSchema.prefault({}),
    retry: retrySchema.prefault({}),
    /** Upstream timeout for one invocation. @default 60000 */
    timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Embedding dimension, reported by `/v1/models` when known. */
    dimensions: z.number().int().min(1).optional(),
  })
  .transform((m, ctx) => {
    const targets =
      m.targets ??
      (m.endpoint
        ? [
            {
              id: 'default',
              endpoint: m.endpoint,
              variant: m.variant,
              inferenceComponent: m.inferenceComponent,
              weight: 100,
            },
          ]
        : []);
    if (targets.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs `endpoint` or `targets`',
        path: ['endpoint'],
      });
      return z.NEVER;
    }
    if (m.targets && (m.endpoint || m.variant || m.inferenceComponent)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'give either `endpoint` (with `variant`, `inferenceComponent`) or `targets`, not both',
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
    const format = m.format ?? defaultFormat(m.kind);
    if (m.kind === 'embedding' ? format !== 'tei' : format === 'tei') {
      ctx.addIssue({
        code: 'custom',
        message: `format ${format} does not serve kind ${m.kind}`,
        path: ['format'],
      });
      return z.NEVER;
    }
    const expressible: readonly GenerationParameter[] =
      format === 'tei' ? [] : FORMAT_PARAMETERS[format as GenerationFormat];
    const unsupported = (m.parameters ?? []).find((p) => !expressible.includes(p));
    if (unsupported !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `format ${format} cannot express parameter ${unsupported}`,
        path: ['parameters'],
      });
      return z.NEVER;
    }
    if (m.limits.maxChoices > 1 && format !== 'openai') {
      ctx.addIssue({
        code: 'custom',
        message: `format ${format} returns one choice per request; maxChoices must be 1`,
        path: ['limits', 'maxChoices'],
      });
      return z.NEVER;
    }
    if (m.images && format !== 'openai') {
      ctx.addIssue({
        code: 'custom',
        message: `format ${format} cannot carry images`,
        path: ['images'],
      });
      return z.NEVER;
    }
    if (m.policy === 'batch' && m.kind !== 'embedding') {
      ctx.addIssue({
        code: 'custom',
        message:
          'policy batch serves embedding models; generation engines batch by themselves, use admit',
        path: ['policy'],
      });
      return z.NEVER;
    }
    if (m.batch.maxConcurrentBatches < m.batch.maxInflightBatches) {
      ctx.addIssue({
        code: 'custom',
        message: 'maxConcurrentBatches must be at least maxInflightBatches',
        path: ['batch', 'maxConcurrentBatches'],
      });
      return z.NEVER;
    }
    if (m.retry.maxDelayMs < m.retry.baseDelayMs) {
      ctx.addIssue({
        code: 'custom',
        message: 'maxDelayMs must be at least baseDelayMs',
        path: ['retry', 'maxDelayMs'],
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
    const { endpoint: _e, variant: _v, inferenceComponent: _i, ...rest } = m;
    const parameters: readonly GenerationParameter[] = m.parameters ?? expressible;
    return { ...rest, format, parameters, targets };
  });

/** Which tokens grant a role: any listed group (`cognito:groups`) or any listed scope. */
const roleGrantSchema = z.strictObject({
  groups: z.array(z.string().min(1)).default([]),
  scopes: z.array(z.string().min(1)).default([]),
});

/**
 * The resource server's token rules. The issuer and client ids usually come from the environment
 * (`SLUICE_AUTH_ISSUER`, `SLUICE_AUTH_CLIENT_IDS`, `SLUICE_AUTH_JWKS_URL`), which wins over these.
 * Bounds are the issue's: at most 60 s of skew, 2 h of lifetime, 8 KiB of token.
 */
export const authSchema = z.strictObject({
  /** Exact `iss` value (Cognito: `https://cognito-idp.<region>.amazonaws.com/<pool id>`). */
  issuer: z.url().optional(),
  /** Accepted Cognito `client_id` (or `aud`) values. */
  clientIds: z.array(z.string().min(1)).default([]),
  /** Accepted `aud` values besides the client ids, for non-Cognito issuers. */
  audiences: z.array(z.string().min(1)).default([]),
  /** @default `${issuer}/.well-known/jwks.json` */
  jwksUrl: z.url().optional(),
  /** @default ['RS256', 'ES256'] */
  algorithms: z
    .array(z.enum(['RS256', 'ES256']))
    .min(1)
    .default(['RS256', 'ES256']),
  /** @default 60 */
  clockSkewSeconds: z.number().int().min(0).max(60).default(60),
  /** Longest accepted `exp - iat`. @default 7200 */
  maxLifetimeSeconds: z.number().int().min(60).max(7200).default(7200),
  /** @default 8192 */
  maxTokenBytes: z.number().int().min(1024).max(8192).default(8192),
  /** Require `token_use: access` (Cognito). Turn off only for issuers that do not set it. @default true */
  requireTokenUse: z.boolean().default(true),
  /**
   * Header that carries the viewer's `Authorization` value past CloudFront origin access control
   * (whose SigV4 signature takes the `Authorization` header); read first when present. Set only
   * behind CloudFront (the deployment sets `SLUICE_AUTH_TOKEN_HEADER`): elsewhere a client could
   * use it to slip past a WAF rule keyed on `Authorization`. @default false (Authorization only)
   */
  forwardedHeader: z
    .union([z.literal(false), z.string().regex(/^[a-z0-9-]{1,64}$/)])
    .default(false),
  /** Claim naming the tenant; the subject when absent. @default 'custom:tenant' */
  tenantClaim: z.string().min(1).default('custom:tenant'),
  /** @default 'cognito:groups' */
  groupsClaim: z.string().min(1).default('cognito:groups'),
  /** Least time between two JWKS fetches caused by an unknown `kid`. @default 30000 */
  jwksCooldownMs: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** @default 600000 */
  jwksCacheMaxAgeMs: z.number().int().min(10_000).max(86_400_000).default(600_000),
  /** @default 5000 */
  jwksTimeoutMs: z.number().int().min(100).max(30_000).default(5000),
  /** Verified tokens remembered (0 turns the cache off). @default 10000 */
  cacheMaxEntries: z.number().int().min(0).max(1_000_000).default(10_000),
  /** @default 'sluice' */
  realm: z
    .string()
    .regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/)
    .default('sluice'),
  roles: z
    .strictObject({
      consumer: roleGrantSchema.default({ groups: [], scopes: ['inference/invoke'] }),
      viewer: roleGrantSchema.default({ groups: ['Viewer'], scopes: ['inference/read'] }),
      operator: roleGrantSchema.default({ groups: ['Operator'], scopes: ['inference/operate'] }),
      admin: roleGrantSchema.default({ groups: ['Admin'], scopes: ['inference/admin'] }),
    })
    .prefault({}),
});

/** A token bucket (`ratePerSecond`, `burst`) and a cap on requests in flight. */
export const limitSpecSchema = z.strictObject({
  ratePerSecond: z.number().positive().max(1_000_000),
  burst: z.number().int().min(1).max(1_000_000),
  maxConcurrent: z.number().int().min(1).max(1_000_000),
});

/**
 * Per-principal and per-tenant limits on `/v1/*`. They hold per gateway process; the fleet-wide
 * limit is the WAF rate-based rule.
 */
export const limitsSchema = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default { ratePerSecond: 10, burst: 20, maxConcurrent: 16 } */
  principal: limitSpecSchema.default({ ratePerSecond: 10, burst: 20, maxConcurrent: 16 }),
  /** @default { ratePerSecond: 50, burst: 100, maxConcurrent: 64 } */
  tenant: limitSpecSchema.default({ ratePerSecond: 50, burst: 100, maxConcurrent: 64 }),
  /** Principal limits by role (the most generous of the caller's roles applies). */
  byRole: z
    .partialRecord(z.enum(['consumer', 'viewer', 'operator', 'admin']), limitSpecSchema)
    .default({}),
  /** Principal limits by client id; win over `byRole`. */
  byClient: z.record(z.string().min(1), limitSpecSchema).default({}),
  /** Tenant limits by tenant id. */
  byTenant: z.record(z.string().min(1), limitSpecSchema).default({}),
  /** Principals and tenants tracked at once; the idlest are forgotten first. @default 100000 */
  maxTrackedKeys: z.number().int().min(100).max(10_000_000).default(100_000),
});

/** Tokens a counter may use per UTC day and per UTC month; an absent window has no limit. */
export const tokenQuotaSchema = z.strictObject({
  daily: z.number().int().min(1).max(1e15).optional(),
  monthly: z.number().int().min(1).max(1e15).optional(),
});

/**
 * Token quotas that hold across the fleet: counters per tenant and per principal class (the
 * token's app client inside its tenant), per UTC day and month, in the DynamoDB table named by
 * `SLUICE_QUOTA_TABLE` (or `tableName`). See docs/usage.md.
 */
export const quotasSchema = z.strictObject({
  /** @default false */
  enabled: z.boolean().default(false),
  /** The DynamoDB table; `SLUICE_QUOTA_TABLE` wins. */
  tableName: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')
    .optional(),
  /**
   * When the table cannot be reached: `closed` refuses generations (503 `quota_unavailable`);
   * `open` admits them against this process's own count and logs each failure. @default 'closed'
   */
  onStoreError: z.enum(['open', 'closed']).default('closed'),
  /** Every tenant's quota. @default no limit (still counted, for `GET /admin/usage`) */
  tenant: tokenQuotaSchema.prefault({}),
  /** Quotas of named tenants; win over `tenant`. */
  byTenant: z.record(z.string().min(1), tokenQuotaSchema).default({}),
  /** Every principal class's quota within its tenant. @default no limit (not counted) */
  principalClass: tokenQuotaSchema.prefault({}),
  /** Quotas of named principal classes (app client ids); win over `principalClass`. */
  byPrincipalClass: z.record(z.string().min(1), tokenQuotaSchema).default({}),
  /**
   * Characters per prompt token in the estimate a request reserves; lower reserves more.
   * @default 3
   */
  charsPerToken: z.number().min(0.5).max(16).default(3),
  /** Days a window's counters are kept after it ends (the table's TTL). @default 35 */
  retentionDays: z.number().int().min(1).max(3660).default(35),
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
    auth: authSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    quotas: quotasSchema.prefault({}),
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
    checkLimitsFitModels(c, ctx);
  });

/**
 * A principal or tenant allowed more requests at once than a model can hold (slots plus queue)
 * could fill that model alone: every other caller would get `queue_full`. Refused at start-up,
 * naming both settings.
 */
const checkLimitsFitModels = (
  c: {
    models: ReadonlyArray<{ id: string; policy: string; admit: z.output<typeof admitSchema> }>;
    limits: z.output<typeof limitsSchema>;
  },
  ctx: z.RefinementCtx,
): void => {
  if (!c.limits.enabled) return;
  const specs: Array<[Array<string | number>, number]> = [
    [['limits', 'principal', 'maxConcurrent'], c.limits.principal.maxConcurrent],
    [['limits', 'tenant', 'maxConcurrent'], c.limits.tenant.maxConcurrent],
    ...Object.entries(c.limits.byRole).map(
      ([k, v]) =>
        [['limits', 'byRole', k, 'maxConcurrent'], v!.maxConcurrent] as [string[], number],
    ),
    ...Object.entries(c.limits.byClient).map(
      ([k, v]) =>
        [['limits', 'byClient', k, 'maxConcurrent'], v.maxConcurrent] as [string[], number],
    ),
    ...Object.entries(c.limits.byTenant).map(
      ([k, v]) =>
        [['limits', 'byTenant', k, 'maxConcurrent'], v.maxConcurrent] as [string[], number],
    ),
  ];
  c.models.forEach((m, i) => {
    if (m.policy !== 'admit') return;
    const capacity = m.admit.maxConcurrency + m.admit.maxQueue;
    for (const [path, limit] of specs) {
      if (limit <= capacity) continue;
      ctx.addIssue({
        code: 'custom',
        message: `${path.join('.')} (${limit}) exceeds what model ${m.id} can hold (models.${i}.admit.maxConcurrency + maxQueue = ${capacity}): one caller could fill it; lower the limit or raise the model's admit settings`,
        path,
      });
    }
  });
};

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type ModelConfig = GatewayConfig['models'][number];
export type TargetConfig = ModelConfig['targets'][number];
export type AuthConfig = GatewayConfig['auth'];
export type LimitsConfig = GatewayConfig['limits'];
export type LimitSpec = z.output<typeof limitSpecSchema>;
export type QuotasConfig = GatewayConfig['quotas'];
export type TokenQuota = z.output<typeof tokenQuotaSchema>;

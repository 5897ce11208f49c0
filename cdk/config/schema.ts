import { z } from 'zod';
import {
  checkPlacement,
  inferenceComponentSchema,
  sharedEndpointSchema,
  type InferenceComponentDeployment,
} from './inference-components.js';
import { instanceType, sagemakerName } from './instance-types.js';
import { gatewayFleet, gatewayFleetSchema, perWorkerShare } from './gateway-fleet.js';
import { blueGreenIssues } from './blue-green.js';
import { requiredEnvironmentConflicts } from './images.js';
import { checkFit } from '../sizing/fit.js';
import { modelProfileSchema } from '../sizing/profile.js';

/**
 * The deployment configuration: everything `cdk.json` (context key `sluice`) may set. One schema,
 * validated once when the app starts, so a bad value stops `cdk synth` with the field's path
 * instead of failing half-way through a CloudFormation deployment.
 *
 * Every field has a default, so `npm run synth` works on a fresh clone with no context at all.
 */

export { GPU_INSTANCE_TYPES, type GpuInstanceType } from './instance-types.js';

const awsAccount = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');
const awsRegion = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region');

/** One production variant of a model's endpoint: a GPU class with its own fleet and bounds. */
export const variantSchema = z
  .strictObject({
    /** Variant name (`g5`, `p4d`, `canary`); also the gateway target id. */
    name: sagemakerName,
    instanceType,
    /** Instances at creation; later deploys keep the autoscaled count. @default 1 */
    initialInstanceCount: z.number().int().min(1).max(100).default(1),
    /**
     * Share of the endpoint's traffic at creation, 0–100. Later deploys keep the running weights
     * (`RetainAllVariantProperties`); change them with the traffic shifter. @default 100
     */
    initialWeight: z.number().int().min(0).max(100).default(100),
    /** Lower bound for Application Auto Scaling. @default 1 */
    minCapacity: z.number().int().min(1).max(100).default(1),
    /** Upper bound for Application Auto Scaling. @default 4 */
    maxCapacity: z.number().int().min(1).max(100).default(4),
    /**
     * Model version (artifact prefix `models/<model id>/<version>/`) this variant serves. Changing
     * it (or the model's `version`) under the same variant name is how a new version rolls out:
     * SageMaker's blue/green canary guards it (see docs/deploy.md).
     * @default the model's `version`
     */
    version: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
  })
  .refine((v) => v.minCapacity <= v.maxCapacity, {
    message: 'minCapacity exceeds maxCapacity',
    path: ['minCapacity'],
  })
  .refine(
    (v) => v.initialInstanceCount >= v.minCapacity && v.initialInstanceCount <= v.maxCapacity,
    {
      message: 'initialInstanceCount must lie within [minCapacity, maxCapacity]',
      path: ['initialInstanceCount'],
    },
  );

/** A vLLM parser name (`deepseek_r1`, `llama3_json`, `hermes`), passed to LMI as is. */
const parserName = z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be a vLLM parser name');

const rawModelSchema = z
  .strictObject({
    /** Public model id clients pass as `model`. */
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/),
    /** `chat`/`completion` run on the LMI (vLLM) container; `embedding` on TEI. */
    kind: z.enum(['chat', 'completion', 'embedding']),
    /** Default model version: the artifact prefix `models/<id>/<version>/` in the hot tier. */
    version: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .default('v1'),
    /** Container image tag override; the default is the pinned DLC for the kind. */
    imageTag: z.string().min(1).optional(),
    /** Extra container environment (e.g. `OPTION_TENSOR_PARALLEL_DEGREE`). @default {} */
    environment: z.record(z.string(), z.string()).default({}),
    /**
     * vLLM tool-call parser (LMI `OPTION_TOOL_CALL_PARSER`, with `OPTION_ENABLE_AUTO_TOOL_CHOICE`):
     * the container turns tool calls into OpenAI `tool_calls`. Needs an LMI image that supports
     * it (`imageTag`; see `cdk/config/images.ts`). @default unset: no tool calling
     */
    toolCallParser: parserName.optional(),
    /**
     * vLLM reasoning parser (LMI `OPTION_REASONING_PARSER`, e.g. `deepseek_r1`): the container
     * returns the chain of thought in `reasoning_content`. Needs `imageTag` like `toolCallParser`.
     * @default unset: reasoning stays in `<think>` tags, which the gateway splits out
     */
    reasoningParser: parserName.optional(),
    /**
     * What artifact ingest does once a version uploaded to `incoming/<id>/<version>/` is verified,
     * copied to the hot tier and registered: stop (`registered`, promote by hand), or start the
     * guarded rollout (`canary`: the endpoint's blue/green canary or the component's rolling
     * update, each with alarm rollback). See docs/artifacts.md. @default 'registered'
     */
    onIngest: z.enum(['registered', 'canary']).default('registered'),
    /**
     * What the model is and how it is served: architecture, precision, context, concurrency,
     * tensor-parallel degree (docs/sizing.md). The config check refuses a variant or component it
     * does not fit, and the LMI environment is derived from it. @default unset: LMI shards over
     * every GPU with a rolling batch of 64, unchecked
     */
    profile: modelProfileSchema.optional(),
    /**
     * SageMaker endpoint name (lower case: it appears in ARNs) of a model on its own endpoint.
     * Give either `endpointName` with `variants`, or `inferenceComponent`.
     */
    endpointName: sagemakerName.optional(),
    /** Target invocations per instance per minute for autoscaling (own endpoint). @default 100 */
    invocationsPerInstance: z.number().int().min(1).max(100_000).optional(),
    /** Step scale-out when mean GPU utilization per GPU exceeds this (own endpoint). @default 80 */
    gpuScaleOutPercent: z.number().min(1).max(100).optional(),
    /** Production variants of the model's own endpoint. */
    variants: z.array(variantSchema).min(1).max(10).optional(),
    /** Run the model as an inference component on a shared endpoint instead. */
    inferenceComponent: inferenceComponentSchema.optional(),
    /**
     * Requests the whole gateway fleet may hold in flight against this model's engine at once
     * (e.g. its rolling-batch size × instances); each gateway worker gets an equal share (see
     * docs/lambda.md). @default 256
     */
    gatewayConcurrency: z.number().int().min(1).max(1_000_000).default(256),
  })
  .superRefine((m, ctx) => {
    const issue = (message: string, path: string): void => {
      ctx.addIssue({ code: 'custom', message, path: [path] });
    };
    if (m.inferenceComponent) {
      for (const field of [
        'endpointName',
        'variants',
        'invocationsPerInstance',
        'gpuScaleOutPercent',
      ] as const) {
        if (m[field] !== undefined) {
          issue(
            `${field} belongs to models on their own endpoint, not to inference components`,
            field,
          );
        }
      }
      return;
    }
    if (!m.endpointName)
      issue('needs endpointName and variants, or inferenceComponent', 'endpointName');
    if (!m.variants) {
      issue('needs variants, or inferenceComponent', 'variants');
      return;
    }
    if (m.variants.reduce((s, v) => s + v.initialWeight, 0) !== 100) {
      issue('variant initialWeight values must sum to 100', 'variants');
    }
    if (new Set(m.variants.map((v) => v.name)).size !== m.variants.length) {
      issue('variant names must be unique', 'variants');
    }
  })
  .refine((m) => (!m.toolCallParser && !m.reasoningParser) || m.imageTag !== undefined, {
    message:
      'toolCallParser and reasoningParser need an LMI image that supports them: set imageTag (cdk/config/images.ts)',
    path: ['imageTag'],
  })
  .refine((m) => m.kind !== 'embedding' || (!m.toolCallParser && !m.reasoningParser), {
    message: 'embedding models take no tool-call or reasoning parser',
    path: ['kind'],
  })
  .superRefine((m, ctx) => {
    for (const message of requiredEnvironmentConflicts(m)) {
      ctx.addIssue({ code: 'custom', message, path: ['environment'] });
    }
  })
  .superRefine((m, ctx) => {
    if (!m.profile) return;
    if (m.kind === 'embedding') {
      ctx.addIssue({
        code: 'custom',
        message: 'profile sizes generation models on LMI; remove it from embedding models',
        path: ['profile'],
      });
      return;
    }
    m.variants?.forEach((v, i) => {
      const fit = checkFit(m.profile!, { instanceType: v.instanceType });
      if (!fit.fits)
        ctx.addIssue({
          code: 'custom',
          message: `${m.id}: ${fit.message}`,
          path: ['variants', i, 'instanceType'],
        });
    });
  });

type RawModel = z.output<typeof rawModelSchema>;
type ModelCommon = Omit<
  RawModel,
  | 'endpointName'
  | 'variants'
  | 'invocationsPerInstance'
  | 'gpuScaleOutPercent'
  | 'inferenceComponent'
>;

/** A model on its own endpoint, with production variants (the original way). */
export type VariantModelDeployment = ModelCommon & {
  readonly hosting: 'endpoint';
  readonly endpointName: string;
  readonly variants: VariantDeployment[];
  readonly invocationsPerInstance: number;
  readonly gpuScaleOutPercent: number;
};

/** A model deployed as an inference component on a shared endpoint. */
export type ComponentModelDeployment = ModelCommon & {
  readonly hosting: 'component';
  readonly inferenceComponent: InferenceComponentDeployment;
};

export type ModelDeployment = VariantModelDeployment | ComponentModelDeployment;

/** A model: on its own endpoint (`endpointName` + `variants`) or an inference component. */
export const modelSchema = rawModelSchema.transform((m): ModelDeployment => {
  const {
    endpointName,
    variants,
    invocationsPerInstance,
    gpuScaleOutPercent,
    inferenceComponent,
    ...common
  } = m;
  if (inferenceComponent) return { ...common, hosting: 'component', inferenceComponent };
  return {
    ...common,
    hosting: 'endpoint',
    endpointName: endpointName!,
    variants: variants!,
    invocationsPerInstance: invocationsPerInstance ?? 100,
    gpuScaleOutPercent: gpuScaleOutPercent ?? 80,
  };
});

/** Models on their own endpoints. */
export const variantModels = (models: readonly ModelDeployment[]): VariantModelDeployment[] =>
  models.filter((m): m is VariantModelDeployment => m.hosting === 'endpoint');

/** Models that run as inference components. */
export const componentModels = (models: readonly ModelDeployment[]): ComponentModelDeployment[] =>
  models.filter((m): m is ComponentModelDeployment => m.hosting === 'component');

export const canarySchema = z.strictObject({
  /** First traffic share of a new gateway version (the CodeDeploy canary), percent. @default 5 */
  percentage: z.number().int().min(1).max(50).default(5),
  /**
   * How SageMaker's blue/green deployment moves a model's own endpoint to a new version:
   * `canary` (first `endpointCanaryInstances` instances of each variant's new fleet, bake, then the
   * rest), `all-at-once` (all traffic in one step, then the bake, with alarm rollback throughout),
   * or `auto`: `canary` where every variant keeps at least twice the canary's instances
   * (`minCapacity`), `all-at-once` otherwise. SageMaker refuses a canary above half a variant's
   * instances, so `canary` on a smaller variant is a config error (`cdk/config/blue-green.ts`).
   * @default 'auto'
   */
  endpointUpdate: z.enum(['auto', 'canary', 'all-at-once']).default('auto'),
  /** Instances per variant in the canary step of `endpointUpdate`. @default 1 */
  endpointCanaryInstances: z.number().int().min(1).max(50).default(1),
  /**
   * Longest a blue/green deployment of an endpoint may run (SageMaker's
   * `MaximumExecutionTimeoutInSeconds`, 10–480 minutes); it must exceed the deployment's bakes and
   * termination wait. @default the waits plus an hour for the new fleet to start, at least 10 minutes
   */
  endpointUpdateTimeoutMinutes: z.number().int().min(10).max(480).optional(),
  /**
   * Bake time at each step before the next, minutes: the CodeDeploy canary interval of the
   * gateway and the traffic shifter's bake use it as is; SageMaker's blue/green
   * `WaitIntervalInSeconds` is capped at 3600 s (60 minutes), its maximum. @default 10
   */
  bakeMinutes: z.number().int().min(1).max(120).default(10),
  /** Traffic steps for the variant shifter (percent to the new variant). @default [5, 25, 50, 100] */
  steps: z.array(z.number().int().min(1).max(100)).min(1).max(10).default([5, 25, 50, 100]),
  /** SageMaker blue/green: wait after the last step before the old fleet goes. @default 600 */
  terminationWaitSeconds: z.number().int().min(0).max(3600).default(600),
});

export const alarmSchema = z
  .strictObject({
    /** GPU utilization per GPU, percent, sustained for 5 minutes. @default 90 */
    gpuUtilizationPercent: z.number().min(1).max(100).default(90),
    /** GPU memory utilization, percent. @default 90 */
    gpuMemoryPercent: z.number().min(1).max(100).default(90),
    /**
     * SageMaker `ModelLatency` p99 of embedding models, milliseconds (an alarm that rolls back).
     * Generation models get no `ModelLatency` alarm: it covers a whole generation and grows with the
     * answer; the dashboard shows it. @default 10000
     */
    modelLatencyP99Ms: z.number().min(1).default(10_000),
    /** `Invocation5XXErrors` per invocation, percent. @default 1 */
    endpoint5xxPercent: z.number().min(0).max(100).default(1),
    /** Gateway 5xx per request, percent. @default 1 */
    gateway5xxPercent: z.number().min(0).max(100).default(1),
    /** Gateway `Latency` p99 of embedding models, milliseconds (rolls back). @default 15000 */
    gatewayLatencyP99Ms: z.number().min(1).default(15_000),
    /**
     * Time to first token p99 of a generation model's target, as the gateway measures it on streams
     * (from entering the pipeline, so it includes the queue wait), milliseconds. Rolls back gateway,
     * endpoint and component deployments; keep it above `queueWaitP99Ms` plus the prefill time of
     * the longest prompts. A starting point to tune from the dashboard. @default 5000
     */
    ttftP99Ms: z.number().min(1).default(5_000),
    /**
     * Time per output token p99 of a generation model's target, milliseconds. Rolls back like
     * `ttftP99Ms`. A starting point to tune from the dashboard. @default 250
     */
    tpotP99Ms: z.number().min(1).default(250),
    /** Gateway `QueueWait` p99, milliseconds. @default 2000 */
    queueWaitP99Ms: z.number().min(1).default(2_000),
    /** Email subscribed to the alarm topic. */
    email: z.email().optional(),
  })
  .refine((a) => a.ttftP99Ms > a.queueWaitP99Ms, {
    message:
      'ttftP99Ms must exceed queueWaitP99Ms: time to first token includes the queue wait, so a lower threshold rolls back on queueing alone',
    path: ['ttftP99Ms'],
  });

export const sluiceConfigSchema = z
  .strictObject({
    /** Placeholder account keeps `cdk synth` offline; set the real one for `cdk deploy`. */
    account: awsAccount.default('111111111111'),
    /** Region of the endpoints and the gateway. The edge (CloudFront, WAF) is always us-east-1. */
    region: awsRegion.default('us-east-1'),
    /**
     * Availability zones of the gateway VPC (zone names of `region`, as the account sees them).
     * Set them, or let `cdk synth` with credentials record the CDK's zone lookup in
     * `cdk.context.json` (then the first three listed are used); with neither, synth stops with an
     * error naming this field. Nothing is guessed: some regions have two zones, and an account may
     * not be able to use a given zone (`cdk/config/availability-zones.ts`).
     * @default the zones recorded in `cdk.context.json`
     */
    availabilityZones: z
      .array(
        z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, 'must be a zone name like us-east-1a'),
      )
      .min(2)
      .max(6)
      .refine((zones) => new Set(zones).size === zones.length, 'must not repeat a zone')
      .optional(),
    /** Prefix of stack names. @default 'Sluice' */
    prefix: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{0,20}$/)
      .default('Sluice'),
    models: z
      .array(modelSchema)
      .min(1)
      .prefault([
        {
          id: 'deepseek-r1-distill-llama-8b',
          endpointName: 'sluice-deepseek-8b',
          kind: 'chat',
          profile: {
            architecture: 'deepseek-r1-distill-llama-8b',
            precision: 'bf16',
            maxModelLen: 8192,
            concurrency: 4,
          },
          version: 'v1',
          environment: {},
          invocationsPerInstance: 100,
          gpuScaleOutPercent: 80,
          variants: [
            {
              name: 'g5',
              instanceType: 'ml.g5.2xlarge',
              initialInstanceCount: 1,
              initialWeight: 95,
              minCapacity: 1,
              maxCapacity: 4,
            },
            {
              name: 'p4d',
              instanceType: 'ml.p4d.24xlarge',
              initialInstanceCount: 1,
              initialWeight: 5,
              minCapacity: 1,
              maxCapacity: 2,
            },
          ],
        },
        {
          id: 'bge-large-en',
          endpointName: 'sluice-bge-large',
          kind: 'embedding',
          version: 'v1',
          environment: {},
          invocationsPerInstance: 1000,
          gpuScaleOutPercent: 80,
          variants: [
            {
              name: 'g5',
              instanceType: 'ml.g5.xlarge',
              initialInstanceCount: 1,
              initialWeight: 100,
              minCapacity: 1,
              maxCapacity: 4,
            },
          ],
        },
      ]),
    /**
     * Endpoints shared by inference components (`models[].inferenceComponent.endpoint` names
     * one). @default [] (every model on its own endpoint)
     */
    sharedEndpoints: z.array(sharedEndpointSchema).max(20).default([]),
    /** The gateway's Managed Instances fleet (see `gateway-fleet.ts` and docs/lambda.md). */
    gateway: gatewayFleetSchema,
    canary: canarySchema.prefault({}),
    alarms: alarmSchema.prefault({}),
    edge: z
      .strictObject({
        /** Custom domain names of the distribution. */
        domainNames: z.array(z.string().min(3)).min(1).default(['api.sluice.example.com']),
        /** ACM certificate in us-east-1 covering `domainNames`. */
        certificateArn: z
          .string()
          .regex(
            /^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[A-Za-z0-9-]+$/,
            'must be an ACM certificate ARN in us-east-1',
          )
          .default(
            'arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
          ),
        /** `TLSv1.3_2025` (TLS 1.3 only) or `TLSv1.2_2025` for older clients. @default 'TLSv1.3_2025' */
        tlsPolicy: z.enum(['TLSv1.3_2025', 'TLSv1.2_2025']).default('TLSv1.3_2025'),
        /** Fleet-wide requests per 5 minutes per `Authorization` value. @default 2000 */
        rateLimitPer5Min: z.number().int().min(10).max(2_000_000_000).default(2000),
        /**
         * CloudFront's origin response (read) timeout, seconds: how long it waits for the first
         * byte and between bytes. 60 covers the gateway's upstream timeout (60 s) but not a full
         * queue wait (30 s) before it; above 60, check (and if need be raise) the account's
         * CloudFront "response timeout per origin" quota, or the deploy fails. @default 60
         */
        originReadTimeoutSeconds: z.number().int().min(1).max(180).default(60),
        /**
         * CloudFront's response completion timeout, seconds: the longest a whole origin response
         * may take. It must be at least `originReadTimeoutSeconds`; the default covers the
         * gateway's deadline (queue 30 s + upstream 60 s) with room to spare. @default 120
         */
        originResponseCompletionSeconds: z.number().int().min(1).max(3600).default(120),
      })
      .refine((e) => e.originResponseCompletionSeconds >= e.originReadTimeoutSeconds, {
        message: 'originResponseCompletionSeconds must be at least originReadTimeoutSeconds',
        path: ['originResponseCompletionSeconds'],
      })
      .prefault({}),
    identity: z
      .strictObject({
        /** Cognito hosted-domain prefix (globally unique per region). @default 'sluice-auth' */
        domainPrefix: z
          .string()
          .regex(/^[a-z0-9](-*[a-z0-9])*$/)
          .max(63)
          .default('sluice-auth'),
        /** Redirect URLs of the authorization-code client. */
        callbackUrls: z.array(z.url()).min(1).default(['https://api.sluice.example.com/callback']),
      })
      .prefault({}),
    artifacts: z
      .strictObject({
        /** Days before noncurrent artifact versions move to Standard-IA (warm). @default 30 */
        warmAfterDays: z.number().int().min(30).max(3650).default(30),
        /** Days before noncurrent versions move to Glacier Flexible Retrieval (cold). @default 90 */
        coldAfterDays: z.number().int().min(60).max(3650).default(90),
        /** Days before noncurrent versions are deleted. @default 730 */
        expireAfterDays: z.number().int().min(91).max(36_500).default(730),
        /** Days after upload before objects under `archive/` move to Glacier Deep Archive. @default 30 */
        archiveAfterDays: z.number().int().min(0).max(3650).default(30),
      })
      .refine((a) => a.coldAfterDays >= a.warmAfterDays + 30, {
        message: 'coldAfterDays must be at least 30 days after warmAfterDays',
        path: ['coldAfterDays'],
      })
      .refine((a) => a.expireAfterDays > a.coldAfterDays, {
        message: 'expireAfterDays must follow coldAfterDays',
        path: ['expireAfterDays'],
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    for (const { path, message } of blueGreenIssues(c.models, c.canary)) {
      ctx.addIssue({ code: 'custom', message, path });
    }
  })
  .superRefine((c, ctx) => {
    c.availabilityZones?.forEach((zone, n) => {
      if (zone.slice(0, -1) !== c.region) {
        ctx.addIssue({
          code: 'custom',
          message: `${zone} is not a zone of region ${c.region}`,
          path: ['availabilityZones', n],
        });
      }
    });
  })
  .superRefine((c, ctx) => {
    checkPlacement(
      c.sharedEndpoints,
      c.models.map((m) => (m.hosting === 'component' ? m.inferenceComponent : undefined)),
      ctx,
    );
    const fleet = gatewayFleet(c.gateway);
    c.models.forEach((m, i) => {
      if (perWorkerShare(m.gatewayConcurrency, fleet) >= 1) return;
      ctx.addIssue({
        code: 'custom',
        path: ['models', i, 'gatewayConcurrency'],
        message:
          `${m.gatewayConcurrency} is less than one request per gateway worker (${fleet.maxWorkers} = ` +
          `${fleet.maxEnvironments} environments × ${fleet.workersPerEnvironment} workers): raise it to ` +
          `${fleet.maxWorkers}, or lower ` +
          (c.gateway.runtime === 'fargate'
            ? 'gateway.fargate.maxTasks'
            : 'gateway.maxVCpu, gateway.maxEnvironments or gateway.workersPerEnvironment'),
      });
    });
  })
  .superRefine((c, ctx) =>
    c.models.forEach((m, i) => {
      if (m.hosting !== 'component' || !m.profile) return;
      const endpoint = c.sharedEndpoints.find((e) => e.name === m.inferenceComponent.endpoint);
      if (!endpoint) return;
      const fit = checkFit(m.profile, {
        instanceType: endpoint.instanceType,
        gpus: m.inferenceComponent.acceleratorDevices,
      });
      if (!fit.fits) {
        ctx.addIssue({
          code: 'custom',
          message: `${m.id}: ${fit.message}`,
          path: ['models', i, 'inferenceComponent', 'acceleratorDevices'],
        });
      }
    }),
  );

export type SluiceConfigInput = z.input<typeof sluiceConfigSchema>;
export type SluiceConfig = z.output<typeof sluiceConfigSchema>;
export type VariantDeployment = z.output<typeof variantSchema>;
export type {
  InferenceComponentDeployment,
  SharedEndpointDeployment,
} from './inference-components.js';
export type CanaryPolicy = SluiceConfig['canary'];
export type AlarmThresholds = SluiceConfig['alarms'];

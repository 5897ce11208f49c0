import { lmiEngineOptions } from '../sizing/engine-settings.js';
import type { GpuInstanceType } from './instance-types.js';
import type { InferenceComponentDeployment, ModelDeployment } from './schema.js';

/**
 * AWS Deep Learning Container images for SageMaker inference, from the registries the SageMaker
 * Python SDK pins (`src/sagemaker/image_uri_config/djl-lmi.json` and `huggingface-tei.json`).
 * LMI (DJL Serving with the vLLM rolling-batch backend) serves generation; Text Embeddings
 * Inference (TEI) serves embeddings. Both load an uncompressed S3 prefix into /opt/ml/model.
 */
export const LMI_IMAGE = {
  repository: 'djl-inference',
  tag: '0.30.0-lmi12.0.0-cu124',
  registries: {
    'us-east-1': '763104351884',
    'us-east-2': '763104351884',
    'us-west-1': '763104351884',
    'us-west-2': '763104351884',
    'ca-central-1': '763104351884',
    'eu-central-1': '763104351884',
    'eu-north-1': '763104351884',
    'eu-west-1': '763104351884',
    'eu-west-2': '763104351884',
    'eu-west-3': '763104351884',
    'ap-northeast-1': '763104351884',
    'ap-northeast-2': '763104351884',
    'ap-south-1': '763104351884',
    'ap-southeast-1': '763104351884',
    'ap-southeast-2': '763104351884',
    'sa-east-1': '763104351884',
  } as Record<string, string>,
} as const;

export const TEI_IMAGE = {
  repository: 'tei',
  tag: '2.0.1-tei1.8.2-gpu-py310-cu122-ubuntu22.04',
  registries: {
    'us-east-1': '683313688378',
    'us-east-2': '257758044811',
    'us-west-1': '746614075791',
    'us-west-2': '246618743249',
    'ca-central-1': '341280168497',
    'eu-central-1': '492215442770',
    'eu-north-1': '662702820516',
    'eu-west-1': '141502667606',
    'eu-west-2': '764974769150',
    'eu-west-3': '659782779980',
    'ap-northeast-1': '354813040037',
    'ap-northeast-2': '366743142698',
    'ap-south-1': '720646828776',
    'ap-southeast-1': '121021644041',
    'ap-southeast-2': '783357654285',
    'sa-east-1': '737474898029',
  } as Record<string, string>,
} as const;

/**
 * The container image URI for a model in a region.
 *
 * @throws Error when the region has no registry for that image.
 */
export function containerImageUri(
  model: Pick<ModelDeployment, 'kind' | 'imageTag'>,
  region: string,
): string {
  const image = containerKind(model) === 'tei' ? TEI_IMAGE : LMI_IMAGE;
  const account = image.registries[region];
  if (!account) {
    throw new Error(`No ${image.repository} image registry is known for region ${region}`);
  }
  return `${account}.dkr.ecr.${region}.amazonaws.com/${image.repository}:${model.imageTag ?? image.tag}`;
}

/** Where SageMaker mounts a model's uncompressed `ModelDataSource` prefix in the container. */
export const MODEL_DIR = '/opt/ml/model';

/** The two containers the CDK app deploys: LMI for generation, TEI for embeddings. */
export type ContainerKind = 'lmi' | 'tei';

/** The container a model runs on. */
export const containerKind = (model: Pick<ModelDeployment, 'kind'>): ContainerKind =>
  model.kind === 'embedding' ? 'tei' : 'lmi';

/**
 * Environment each container cannot start without, from its own entrypoint or documentation.
 * {@link containerEnvironment} always sets these values, and the config check refuses a model
 * `environment` that changes them: the endpoints run with network isolation, so the model can only
 * come from `/opt/ml/model`.
 *
 * - TEI: the SageMaker entrypoint (`sagemaker-entrypoint.sh` and `sagemaker-entrypoint-cuda-all.sh`
 *   in huggingface/text-embeddings-inference) prints "HF_MODEL_ID must be set" and exits 1 when
 *   `HF_MODEL_ID` is empty, then passes it on as `MODEL_ID`; `--model-id` accepts a local directory.
 * - LMI: "the only required configuration for LMI containers is the `HF_MODEL_ID` environment
 *   variable"; with SageMaker's uncompressed model artifacts "you should set this value to
 *   `/opt/ml/model`" (djl-serving `serving/docs/lmi/user_guides/starting-guide.md`).
 */
export const REQUIRED_ENVIRONMENT: Readonly<
  Record<ContainerKind, Readonly<Record<string, string>>>
> = {
  tei: { HF_MODEL_ID: MODEL_DIR },
  lmi: { HF_MODEL_ID: MODEL_DIR },
};

/**
 * The model `environment` entries that would change a required value, as messages naming the
 * variable; empty when there are none.
 */
export function requiredEnvironmentConflicts(
  model: Pick<ModelDeployment, 'kind' | 'environment'>,
): string[] {
  const kind = containerKind(model);
  return Object.entries(REQUIRED_ENVIRONMENT[kind]).flatMap(([name, value]) =>
    name in model.environment && model.environment[name] !== value
      ? [
          `${name} must be ${value} on ${kind.toUpperCase()} (the endpoint runs with network isolation and loads the model from ${MODEL_DIR}); remove it from environment`,
        ]
      : [],
  );
}

/** What the container environment depends on. */
export type ContainerModel = Pick<
  ModelDeployment,
  'kind' | 'environment' | 'toolCallParser' | 'reasoningParser'
> &
  Partial<Pick<ModelDeployment, 'profile'>>;

/** Where a container runs: a variant's instance type, or an inference component's copy. */
export type ContainerPlacement =
  | { readonly instanceType: GpuInstanceType }
  | Pick<InferenceComponentDeployment, 'acceleratorDevices'>;

/**
 * The container environment of a model: the engine options for LMI (vLLM) or TEI, then the
 * model's own `environment`, which wins.
 *
 * Every name comes from the container's documentation:
 * - `OPTION_ROLLING_BATCH`, `OPTION_MAX_ROLLING_BATCH_SIZE`, `OPTION_TENSOR_PARALLEL_DEGREE`:
 *   LMI vLLM user guide (`serving/docs/lmi/user_guides/vllm_user_guide.md` in
 *   deepjavalibrary/djl-serving, "Quick Start Configurations": `option.<name>` in
 *   serving.properties is `OPTION_<NAME>` in the environment). With `messages` in the body, LMI
 *   answers in the OpenAI chat schema on `/invocations` (`chat_input_output_schema.md`).
 * - `OPTION_ENABLE_AUTO_TOOL_CHOICE`, `OPTION_TOOL_CALL_PARSER`: LMI tool calling guide
 *   (`user_guides/tool_calling.md`, vLLM backend only; its example runs 0.32.0-lmi14.0.0).
 * - `OPTION_ENABLE_REASONING`, `OPTION_REASONING_PARSER`: the SageMaker HyperPod guide that
 *   deploys DeepSeek-R1 distills on LMI with `deepseek_r1`; LMI passes `OPTION_*` through to
 *   vLLM's engine arguments (`enable_reasoning`, `reasoning_parser`).
 * - `MAX_BATCH_TOKENS`, `MAX_CLIENT_BATCH_SIZE`: Text Embeddings Inference launcher options.
 * - `HF_MODEL_ID`: see {@link REQUIRED_ENVIRONMENT}.
 *
 * With a `profile`, tensor-parallel degree, max model length, rolling batch size, memory
 * utilization and runtime quantization come from the profile and its fit on the placement
 * (`cdk/sizing/engine-settings.ts`, docs/sizing.md). Without one, LMI shards over every GPU
 * (`max`) with a rolling batch of 64. For an inference component the tensor-parallel degree is
 * the component's GPU count: the container sees only the accelerators SageMaker assigns to its
 * copy.
 */
export function containerEnvironment(
  model: ContainerModel,
  placement?: ContainerPlacement,
): Record<string, string> {
  if (model.kind === 'embedding') {
    return {
      ...REQUIRED_ENVIRONMENT.tei,
      MAX_BATCH_TOKENS: '16384',
      MAX_CLIENT_BATCH_SIZE: '64',
      ...model.environment,
    };
  }
  const env: Record<string, string> = {
    ...REQUIRED_ENVIRONMENT.lmi,
    OPTION_ROLLING_BATCH: 'vllm',
    ...(model.profile && placement
      ? lmiEngineOptions(model.profile, placement)
      : {
          OPTION_MAX_ROLLING_BATCH_SIZE: '64',
          OPTION_TENSOR_PARALLEL_DEGREE:
            placement && 'acceleratorDevices' in placement
              ? String(placement.acceleratorDevices)
              : 'max',
        }),
  };
  if (model.toolCallParser) {
    env.OPTION_ENABLE_AUTO_TOOL_CHOICE = 'true';
    env.OPTION_TOOL_CALL_PARSER = model.toolCallParser;
  }
  if (model.reasoningParser) {
    env.OPTION_ENABLE_REASONING = 'true';
    env.OPTION_REASONING_PARSER = model.reasoningParser;
  }
  return { ...env, ...model.environment };
}

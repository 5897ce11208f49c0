import {
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeInferenceComponentCommand,
  UpdateEndpointCommand,
  UpdateInferenceComponentCommand,
  type DeploymentConfig,
  type InferenceComponentDeploymentConfig,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { createHash } from 'node:crypto';
import type { IngestModel } from './config.js';

/**
 * SageMaker names of ingested versions: `<model>-<version>-<hash>`, lower case (names appear in
 * ARNs lower-cased), at most 62 characters, the same for every delivery of one version, so a
 * retried registration finds what the first one created. IAM grants use `namePrefix(slug)`.
 */
export function sagemakerName(slug: string, version: string): string {
  const hash = createHash('sha256').update(`${slug}@${version}`).digest('hex').slice(0, 8);
  return `${namePrefix(slug)}${clean(version).slice(0, 20)}-${hash}`;
}

/** `<model>-`, the start of every SageMaker name ingest creates for the model. */
export function namePrefix(slug: string): string {
  return `${clean(slug).slice(0, 32)}-`;
}

function clean(part: string): string {
  return (
    part
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '') || 'x'
  );
}

/** What was registered for a version, and what its guarded rollout would change. */
export type Registration =
  | {
      readonly hosting: 'endpoint';
      readonly modelName: string;
      readonly endpointName: string;
      readonly endpointConfigName: string;
      /** The endpoint's blue/green policy with its rollback alarms, as last deployed. */
      readonly deploymentConfig?: DeploymentConfig;
    }
  | {
      readonly hosting: 'component';
      readonly modelName: string;
      readonly componentName: string;
    };

export interface RegisterInput {
  readonly model: IngestModel;
  readonly version: string;
  /** `s3://bucket/models/<model>/<version>/`: the verified copy in the hot tier. */
  readonly modelDataUrl: string;
  readonly executionRoleArn: string;
  readonly tags: Record<string, string>;
}

/**
 * Creates the SageMaker Model for the version (network isolation, uncompressed data from the hot
 * tier) and, for a model on its own endpoint, an EndpointConfig that is the endpoint's current
 * one with this Model in every variant. Nothing serves it yet. Safe to repeat.
 */
export async function registerVersion(
  sagemaker: SageMakerClient,
  input: RegisterInput,
): Promise<Registration> {
  const { model, version } = input;
  const modelName = sagemakerName(model.slug, version);
  const Tags = Object.entries(input.tags).map(([Key, Value]) => ({ Key, Value }));
  await ignoreExisting(
    sagemaker.send(
      new CreateModelCommand({
        ModelName: modelName,
        ExecutionRoleArn: input.executionRoleArn,
        PrimaryContainer: {
          Image: model.image,
          Environment: model.environment,
          ModelDataSource: {
            S3DataSource: {
              S3Uri: input.modelDataUrl,
              S3DataType: 'S3Prefix',
              CompressionType: 'None',
            },
          },
        },
        EnableNetworkIsolation: true,
        Tags,
      }),
    ),
  );
  if (model.hosting === 'component') {
    return { hosting: 'component', modelName, componentName: model.componentName };
  }
  const endpoint = await sagemaker.send(
    new DescribeEndpointCommand({ EndpointName: model.endpointName }),
  );
  const current = await sagemaker.send(
    new DescribeEndpointConfigCommand({ EndpointConfigName: endpoint.EndpointConfigName }),
  );
  const endpointConfigName = modelName;
  await ignoreExisting(
    sagemaker.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: endpointConfigName,
        KmsKeyId: current.KmsKeyId,
        ProductionVariants: (current.ProductionVariants ?? []).map((v) => ({
          ...v,
          ModelName: modelName,
        })),
        Tags,
      }),
    ),
  );
  return {
    hosting: 'endpoint',
    modelName,
    endpointName: model.endpointName,
    endpointConfigName,
    deploymentConfig: endpoint.LastDeploymentConfig,
  };
}

export class RolloutRefused extends Error {
  override readonly name = 'RolloutRefused';
}

/**
 * Starts SageMaker's guarded rollout with the deployment policy the endpoint or component was
 * last deployed with (CDK sets it: blue/green canary, or a rolling update, each with alarm
 * rollback). Refuses when there is none, rather than switching all traffic at once.
 */
export async function startRollout(
  sagemaker: SageMakerClient,
  registration: Registration,
): Promise<void> {
  if (registration.hosting === 'endpoint') {
    if (!registration.deploymentConfig?.BlueGreenUpdatePolicy) {
      throw new RolloutRefused(
        `Endpoint ${registration.endpointName} has no blue/green deployment policy with rollback alarms; update it with ${registration.endpointConfigName} by hand.`,
      );
    }
    await sagemaker.send(
      new UpdateEndpointCommand({
        EndpointName: registration.endpointName,
        EndpointConfigName: registration.endpointConfigName,
        RetainAllVariantProperties: true,
        DeploymentConfig: registration.deploymentConfig,
      }),
    );
    return;
  }
  const component = await sagemaker.send(
    new DescribeInferenceComponentCommand({
      InferenceComponentName: registration.componentName,
    }),
  );
  const deploymentConfig: InferenceComponentDeploymentConfig | undefined =
    component.LastDeploymentConfig;
  if (!deploymentConfig?.RollingUpdatePolicy) {
    throw new RolloutRefused(
      `Inference component ${registration.componentName} has no rolling-update policy with rollback alarms; point it at ${registration.modelName} by hand.`,
    );
  }
  const spec = component.Specification ?? {};
  await sagemaker.send(
    new UpdateInferenceComponentCommand({
      InferenceComponentName: registration.componentName,
      Specification: {
        ModelName: registration.modelName,
        StartupParameters: spec.StartupParameters,
        ComputeResourceRequirements: spec.ComputeResourceRequirements,
      },
      DeploymentConfig: deploymentConfig,
    }),
  );
}

/** A repeated delivery finds the Model or EndpointConfig already there: that is success. */
async function ignoreExisting<T>(call: Promise<T>): Promise<void> {
  try {
    await call;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ValidationException' && /already exist/i.test(e.message ?? '')) return;
    throw err;
  }
}

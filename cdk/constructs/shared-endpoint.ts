import { Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { containerImageUri } from '../config/images.js';
import {
  GPU_INSTANCE_TYPES,
  type ComponentModelDeployment,
  type SharedEndpointDeployment,
} from '../config/schema.js';
import { ArtifactStore } from './artifact-store.js';
import { createModelExecutionRole } from './model-execution-role.js';

export interface SharedEndpointProps {
  /** The endpoint: instance type, instance bounds, routing. */
  readonly endpoint: SharedEndpointDeployment;
  /** The models that run on it as inference components (the execution role serves them all). */
  readonly components: readonly ComponentModelDeployment[];
  /** Hot-tier artifact bucket; model data is read from `models/<id>/<version>/`. */
  readonly artifacts: s3.IBucket;
  /** Customer key of the artifact bucket (and of ML volumes where the instance allows it). */
  readonly key: kms.IKey;
}

/**
 * A SageMaker real-time endpoint that hosts inference components: an EndpointConfig whose one
 * production variant names no model (the components bring theirs), carries the execution role
 * (`ExecutionRoleArn`, required when the variant has no `ModelName`), scales its instances with
 * managed instance scaling and routes to the copy with the fewest requests in flight.
 *
 * The components themselves are {@link InferenceComponent}s that name this endpoint.
 */
export class SharedEndpoint extends Construct {
  public readonly endpointName: string;
  public readonly endpointArn: string;
  public readonly variantName: string;
  /** SageMaker's role for the endpoint and the components' models. */
  public readonly role: iam.Role;
  public readonly endpointConfig: sagemaker.CfnEndpointConfig;
  public readonly endpoint: sagemaker.CfnEndpoint;

  constructor(scope: Construct, id: string, props: SharedEndpointProps) {
    super(scope, id);
    const { endpoint: e, components } = props;
    if (components.length === 0) throw new Error(`${e.name}: no inference component runs on it`);
    const foreign = components.find((c) => c.inferenceComponent.endpoint !== e.name);
    if (foreign) throw new Error(`${foreign.id} runs on ${foreign.inferenceComponent.endpoint}`);
    if (e.minInstanceCount > e.maxInstanceCount) {
      throw new Error(`${e.name}: minInstanceCount exceeds maxInstanceCount`);
    }
    const stack = Stack.of(this);
    this.endpointName = e.name;
    this.variantName = e.variantName;
    this.endpointArn = stack.formatArn({
      service: 'sagemaker',
      resource: 'endpoint',
      resourceName: e.name,
    });

    this.role = createModelExecutionRole(this, 'ExecutionRole', {
      description: `SageMaker execution role of ${e.name} and its inference components`,
      artifacts: props.artifacts,
      key: props.key,
      prefixes: components.map((c) => ArtifactStore.modelPrefix(c.id, c.version)),
      imageUris: components.map((c) => containerImageUri(c, stack.region)),
      logGroups: [
        `/aws/sagemaker/Endpoints/${e.name}`,
        ...components.map((c) => `/aws/sagemaker/InferenceComponents/${c.inferenceComponent.name}`),
      ],
    });

    // As for single-model endpoints: SageMaker rejects a KmsKeyId for ML storage on instance
    // types with NVMe instance storage (g5, p4d), which the hardware encrypts at rest.
    const instanceStorage = GPU_INSTANCE_TYPES[e.instanceType].instanceStorage;
    this.endpointConfig = new sagemaker.CfnEndpointConfig(this, 'EndpointConfig', {
      executionRoleArn: this.role.roleArn,
      kmsKeyId: instanceStorage ? undefined : props.key.keyArn,
      productionVariants: [
        {
          variantName: e.variantName,
          instanceType: e.instanceType,
          initialInstanceCount: e.initialInstanceCount,
          managedInstanceScaling: {
            status: 'ENABLED',
            minInstanceCount: e.minInstanceCount,
            maxInstanceCount: e.maxInstanceCount,
          },
          routingConfig: { routingStrategy: e.routing },
        },
      ],
    });
    // SageMaker checks the role's permissions when it creates the endpoint.
    this.endpointConfig.node.addDependency(this.role);
    if (instanceStorage) {
      Validations.of(this.endpointConfig).acknowledge({
        id: 'NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured',
        reason:
          'The shared endpoint runs on an instance type with NVMe instance storage (g5, p4d); SageMaker rejects KmsKeyId there, and the instance storage is encrypted at rest by the hardware.',
      });
    }

    this.endpoint = new sagemaker.CfnEndpoint(this, 'Endpoint', {
      // A fixed name: the gateway catalogue, IAM grants and the components must know it.
      endpointName: e.name,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
    });
  }
}

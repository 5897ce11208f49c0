import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  blueGreenTimeoutSeconds,
  endpointTrafficRouting,
  sagemakerBakeSeconds,
  VARIANT_STARTUP_SECONDS,
  variantsTooSmallForCanary,
} from '../config/blue-green.js';
import { containerEnvironment, containerImageUri } from '../config/images.js';
import {
  GPU_INSTANCE_TYPES,
  type AlarmThresholds,
  type CanaryPolicy,
  type VariantModelDeployment,
} from '../config/schema.js';
import { ArtifactStore } from './artifact-store.js';
import { EndpointAlarms } from './endpoint-alarms.js';
import { createModelExecutionRole } from './model-execution-role.js';

export interface InferenceEndpointProps {
  /** The model, its endpoint name and its variants (one per GPU class or version). */
  readonly model: VariantModelDeployment;
  /** Hot-tier artifact bucket; model data is read from `models/<id>/<version>/`. */
  readonly artifacts: s3.IBucket;
  /** Customer key of the artifact bucket (and of ML volumes where the instance allows it). */
  readonly key: kms.IKey;
  /** Blue/green policy: traffic routing, canary size, bake time, termination wait, timeout. */
  readonly canary: CanaryPolicy;
  readonly thresholds: AlarmThresholds;
  readonly topic: sns.ITopic;
  /**
   * The gateway's latency alarms of this model, which also roll back (`GatewayAlarms.latencyOf`).
   * @default []
   */
  readonly gatewayRollback?: readonly cloudwatch.IAlarm[];
}

/**
 * One model served by one SageMaker real-time endpoint: a Model per model version (container
 * image from the AWS DLC registry, uncompressed model data from the hot tier), an
 * EndpointConfig with a production variant per GPU class, the Endpoint with blue/green canary
 * deployments that roll back on alarm, and Application Auto Scaling per variant.
 */
export class InferenceEndpoint extends Construct {
  public readonly endpointName: string;
  public readonly endpointArn: string;
  public readonly role: iam.Role;
  public readonly endpoint: sagemaker.CfnEndpoint;
  public readonly endpointConfig: sagemaker.CfnEndpointConfig;
  public readonly alarms: EndpointAlarms;
  public readonly scalableTargets: appscaling.ScalableTarget[] = [];

  constructor(scope: Construct, id: string, props: InferenceEndpointProps) {
    super(scope, id);
    const { model, canary } = props;
    const total = model.variants.reduce((s, v) => s + v.initialWeight, 0);
    if (total !== 100) throw new Error(`${model.id}: variant weights sum to ${total}, not 100`);
    const small = variantsTooSmallForCanary(model, canary.endpointCanaryInstances);
    if (canary.endpointUpdate === 'canary' && small.length > 0) {
      throw new Error(
        `${model.id}: variant ${small[0]!.name} may run ${small[0]!.minCapacity} instance(s), too few for a ${canary.endpointCanaryInstances}-instance canary; set canary.endpointUpdate to auto or all-at-once`,
      );
    }
    const stack = Stack.of(this);
    this.endpointName = model.endpointName;
    // SageMaker lower-cases names in ARNs; the config schema only admits lower-case names.
    this.endpointArn = stack.formatArn({
      service: 'sagemaker',
      resource: 'endpoint',
      resourceName: model.endpointName,
    });

    const versions = [...new Set(model.variants.map((v) => v.version ?? model.version))];
    this.role = createModelExecutionRole(this, 'ExecutionRole', {
      description: `SageMaker execution role of ${model.endpointName}`,
      artifacts: props.artifacts,
      key: props.key,
      prefixes: versions.map((v) => ArtifactStore.modelPrefix(model.id, v)),
      imageUris: [containerImageUri(model, stack.region)],
      logGroups: [`/aws/sagemaker/Endpoints/${model.endpointName}`],
    });

    // One Model per version and container environment: a profiled model's environment follows
    // each variant's instance type (tensor-parallel degree), so variants of one version on
    // different GPU classes may need different Models. The first keeps the id `Model-<version>`.
    const models = new Map<string, sagemaker.CfnModel>();
    const modelKey = (v: (typeof model.variants)[number]) => {
      const environment = containerEnvironment(model, { instanceType: v.instanceType });
      return {
        version: v.version ?? model.version,
        environment,
        key: `${v.version ?? model.version} ${JSON.stringify(environment)}`,
      };
    };
    for (const v of model.variants) {
      const { version, environment, key } = modelKey(v);
      if (models.has(key)) continue;
      const sameVersion = [...models.keys()].some((k) => k.startsWith(`${version} `));
      const m = new sagemaker.CfnModel(
        this,
        sameVersion ? `Model-${version}-${v.name}` : `Model-${version}`,
        {
          executionRoleArn: this.role.roleArn,
          primaryContainer: {
            image: containerImageUri(model, stack.region),
            environment,
            modelDataSource: {
              s3DataSource: {
                s3Uri: props.artifacts.s3UrlForObject(ArtifactStore.modelPrefix(model.id, version)),
                s3DataType: 'S3Prefix',
                // Uncompressed: the container reads files straight from the prefix, no tar to unpack.
                compressionType: 'None',
              },
            },
          },
          enableNetworkIsolation: true,
        },
      );
      m.node.addDependency(this.role);
      models.set(key, m);
    }

    // g5 and p4d carry NVMe instance storage, and SageMaker rejects a KmsKeyId for ML storage on
    // instance types with instance storage. Those volumes are encrypted at rest by the hardware
    // (AES-256 on NVMe), so we set KmsKeyId only when no variant runs on such an instance.
    const anyInstanceStorage = model.variants.some(
      (v) => GPU_INSTANCE_TYPES[v.instanceType].instanceStorage,
    );
    this.endpointConfig = new sagemaker.CfnEndpointConfig(this, 'EndpointConfig', {
      kmsKeyId: anyInstanceStorage ? undefined : props.key.keyArn,
      productionVariants: model.variants.map((v) => ({
        variantName: v.name,
        modelName: models.get(modelKey(v).key)!.attrModelName,
        instanceType: v.instanceType,
        initialInstanceCount: v.initialInstanceCount,
        initialVariantWeight: v.initialWeight,
        containerStartupHealthCheckTimeoutInSeconds: VARIANT_STARTUP_SECONDS,
        modelDataDownloadTimeoutInSeconds: VARIANT_STARTUP_SECONDS,
      })),
    });

    if (anyInstanceStorage) {
      Validations.of(this.endpointConfig).acknowledge({
        id: 'NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured',
        reason:
          'A variant runs on an instance type with NVMe instance storage (g5, p4d); SageMaker rejects KmsKeyId there, and the instance storage is encrypted at rest by the hardware.',
      });
    }

    this.alarms = new EndpointAlarms(this, 'Alarms', {
      endpointName: model.endpointName,
      kind: model.kind,
      variants: model.variants,
      thresholds: props.thresholds,
      topic: props.topic,
      gatewayRollback: props.gatewayRollback,
    });

    // SageMaker accepts WaitIntervalInSeconds in 0..3600; longer bakes (the schema allows up to
    // 120 minutes for CodeDeploy and the traffic shifter) are capped here, not rejected.
    const waitSeconds = sagemakerBakeSeconds(canary.bakeMinutes);
    const routing = endpointTrafficRouting(model, canary);
    this.endpoint = new sagemaker.CfnEndpoint(this, 'Endpoint', {
      // A fixed name: the gateway catalogue, IAM grants and alarms must know it before it exists.
      endpointName: model.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
      // Keep what autoscaling (instance counts) and the traffic shifter (weights) set at run time:
      // without this every deploy would reset them to initialInstanceCount / initialWeight. No
      // property is excluded, so config changes to those two fields apply only at creation.
      retainAllVariantProperties: true,
      deploymentConfig: {
        blueGreenUpdatePolicy: {
          // A canary of whole instances (at most half of each variant's, checked above), or every
          // instance at once where a variant may run a single one; both bake with alarm rollback.
          trafficRoutingConfiguration:
            routing.type === 'CANARY'
              ? {
                  type: 'CANARY',
                  canarySize: { type: 'INSTANCE_COUNT', value: routing.canaryInstances },
                  waitIntervalInSeconds: waitSeconds,
                }
              : { type: 'ALL_AT_ONCE', waitIntervalInSeconds: waitSeconds },
          terminationWaitInSeconds: canary.terminationWaitSeconds,
          maximumExecutionTimeoutInSeconds: blueGreenTimeoutSeconds(routing, canary),
        },
        autoRollbackConfiguration: {
          alarms: this.alarms.rollback.map((a) => ({ alarmName: a.alarmName })),
        },
      },
    });

    for (const v of model.variants) {
      const target = new appscaling.ScalableTarget(this, `Scaling-${v.name}`, {
        serviceNamespace: appscaling.ServiceNamespace.SAGEMAKER,
        resourceId: `endpoint/${model.endpointName}/variant/${v.name}`,
        scalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        minCapacity: v.minCapacity,
        maxCapacity: v.maxCapacity,
      });
      target.node.addDependency(this.endpoint);
      target.scaleToTrackMetric('InvocationsPerInstance', {
        predefinedMetric: appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        targetValue: model.invocationsPerInstance,
        scaleInCooldown: Duration.minutes(10),
        scaleOutCooldown: Duration.minutes(3),
      });
      target.scaleOnMetric('GpuUtilization', {
        metric: this.alarms.metrics.gpuPerGpu(v),
        adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        scalingSteps: [
          { upper: 30, change: -1 },
          { lower: model.gpuScaleOutPercent, change: +1 },
          { lower: Math.min(99, model.gpuScaleOutPercent + 15), change: +2 },
        ],
        cooldown: Duration.minutes(5),
        evaluationPeriods: 3,
      });
      this.scalableTargets.push(target);
    }
  }
}

export { SAGEMAKER_MAX_WAIT_SECONDS, sagemakerBakeSeconds } from '../config/blue-green.js';

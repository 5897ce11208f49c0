import { Duration, Stack } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { containerEnvironment, containerImageUri } from '../config/images.js';
import type { AlarmThresholds, CanaryPolicy, ComponentModelDeployment } from '../config/schema.js';
import { ArtifactStore } from './artifact-store.js';
import { ComponentAlarms, componentMetric } from './component-alarms.js';
import { sagemakerBakeSeconds } from './inference-endpoint.js';
import type { SharedEndpoint } from './shared-endpoint.js';

/** Time SageMaker may take to download the weights and start one copy's container. */
const STARTUP_SECONDS = 1800;

export interface InferenceComponentProps {
  /** The model and its component settings (`inferenceComponent`). */
  readonly model: ComponentModelDeployment;
  /** The shared endpoint it runs on; its execution role reads this model's artifacts. */
  readonly endpoint: SharedEndpoint;
  /** Hot-tier artifact bucket; model data is read from `models/<id>/<version>/`. */
  readonly artifacts: s3.IBucket;
  /** Bake time per rolling-update step (`bakeMinutes`, capped at SageMaker's 3600 s). */
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
 * One model as an inference component on a shared endpoint: a Model for its version, the
 * InferenceComponent (GPUs, memory and CPU per copy, the initial copy count), a rolling update
 * one copy at a time that rolls back when the component's 5xx alarm or the model's latency
 * alarms fire, and Application Auto Scaling of `DesiredCopyCount` on invocations per copy. With `scaleToZero`, a
 * step-scaling policy on `NoCapacityInvocationFailures` brings the first copy back.
 */
export class InferenceComponent extends Construct {
  public readonly componentName: string;
  public readonly componentArn: string;
  public readonly model: sagemaker.CfnModel;
  public readonly component: sagemaker.CfnInferenceComponent;
  public readonly alarms: ComponentAlarms;
  public readonly scalableTarget: appscaling.ScalableTarget;
  /** The alarm that wakes a component scaled to zero; undefined without `scaleToZero`. */
  public readonly wakeAlarm?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: InferenceComponentProps) {
    super(scope, id);
    const { model, endpoint } = props;
    const c = model.inferenceComponent;
    if (c.endpoint !== endpoint.endpointName) {
      throw new Error(`${model.id}: runs on ${c.endpoint}, not ${endpoint.endpointName}`);
    }
    if (c.minCopies === 0 && !c.scaleToZero) {
      throw new Error(`${model.id}: minCopies 0 needs scaleToZero`);
    }
    const stack = Stack.of(this);
    this.componentName = c.name;
    this.componentArn = stack.formatArn({
      service: 'sagemaker',
      resource: 'inference-component',
      resourceName: c.name,
    });

    // A new version is a new Model (new logical id and name); the component's ModelName then
    // changes, which SageMaker applies as a rolling update.
    this.model = new sagemaker.CfnModel(this, `Model-${model.version}`, {
      executionRoleArn: endpoint.role.roleArn,
      primaryContainer: {
        image: containerImageUri(model, stack.region),
        environment: containerEnvironment(model, c),
        modelDataSource: {
          s3DataSource: {
            s3Uri: props.artifacts.s3UrlForObject(
              ArtifactStore.modelPrefix(model.id, model.version),
            ),
            s3DataType: 'S3Prefix',
            compressionType: 'None',
          },
        },
      },
      enableNetworkIsolation: true,
    });
    this.model.node.addDependency(endpoint.role);

    this.alarms = new ComponentAlarms(this, 'Alarms', {
      componentName: c.name,
      kind: model.kind,
      thresholds: props.thresholds,
      topic: props.topic,
      gatewayRollback: props.gatewayRollback,
    });

    const waitSeconds = sagemakerBakeSeconds(props.canary.bakeMinutes);
    this.component = new sagemaker.CfnInferenceComponent(this, 'Component', {
      // A fixed name: the gateway passes it as InferenceComponentName, and scaling targets it.
      inferenceComponentName: c.name,
      endpointName: endpoint.endpoint.attrEndpointName,
      variantName: endpoint.variantName,
      specification: {
        modelName: this.model.attrModelName,
        computeResourceRequirements: {
          numberOfAcceleratorDevicesRequired: c.acceleratorDevices,
          minMemoryRequiredInMb: c.minMemoryMb,
          numberOfCpuCoresRequired: c.cpuCores,
        },
        startupParameters: {
          modelDataDownloadTimeoutInSeconds: STARTUP_SECONDS,
          containerStartupHealthCheckTimeoutInSeconds: STARTUP_SECONDS,
        },
      },
      runtimeConfig: { copyCount: c.initialCopies },
      deploymentConfig: {
        rollingUpdatePolicy: {
          // One copy per step: the smallest batch, and the least spare GPU capacity it needs.
          maximumBatchSize: { type: 'COPY_COUNT', value: 1 },
          waitIntervalInSeconds: waitSeconds,
          // One step per copy, each starting a copy and baking; SageMaker allows 600–28800 s.
          maximumExecutionTimeoutInSeconds: Math.min(
            28_800,
            Math.max(600, c.maxCopies * (STARTUP_SECONDS + waitSeconds)),
          ),
        },
        autoRollbackConfiguration: {
          alarms: this.alarms.rollback.map((a) => ({ alarmName: a.alarmName })),
        },
      },
    });

    this.scalableTarget = new appscaling.ScalableTarget(this, 'Scaling', {
      serviceNamespace: appscaling.ServiceNamespace.SAGEMAKER,
      resourceId: `inference-component/${c.name}`,
      scalableDimension: 'sagemaker:inference-component:DesiredCopyCount',
      minCapacity: c.minCopies,
      maxCapacity: c.maxCopies,
    });
    this.scalableTarget.node.addDependency(this.component);
    this.scalableTarget.scaleToTrackMetric('InvocationsPerCopy', {
      predefinedMetric:
        appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
      targetValue: c.targetInvocationsPerCopy,
      scaleInCooldown: Duration.minutes(10),
      scaleOutCooldown: Duration.minutes(3),
    });

    if (c.scaleToZero) this.wakeAlarm = this.scaleFromZero(c.name);
  }

  /**
   * Target tracking cannot leave zero copies (there is no per-copy metric to track), so, as
   * SageMaker's scale-to-zero guide sets it up: a step policy that adds one copy, started by an
   * alarm on `NoCapacityInvocationFailures` (requests that found no copy). The guide's alarm uses
   * `GreaterThanThreshold 1`, which waits for a second failed request; `>= 1` starts on the first.
   */
  private scaleFromZero(name: string): cloudwatch.Alarm {
    const wake = new appscaling.StepScalingAction(this, 'ScaleFromZero', {
      scalingTarget: this.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
      cooldown: Duration.minutes(1),
    });
    wake.addAdjustment({ adjustment: 1, lowerBound: 0 });
    const alarm = new cloudwatch.Alarm(this, 'NoCapacity', {
      alarmDescription: `${name}: a request found no copy; start one (scale from zero)`,
      metric: componentMetric(name, 'NoCapacityInvocationFailures', 'Sum'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.ApplicationScalingAction(wake));
    return alarm;
  }
}

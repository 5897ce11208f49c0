import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  GPU_INSTANCE_TYPES,
  type AlarmThresholds,
  type ModelDeployment,
  type VariantDeployment,
} from '../config/schema.js';

/** Namespace of SageMaker's per-instance (GPU, CPU, memory) endpoint metrics. */
export const SAGEMAKER_INSTANCE_NAMESPACE = '/aws/sagemaker/Endpoints';

export interface EndpointAlarmsProps {
  readonly endpointName: string;
  /** What the endpoint serves: embedding endpoints also roll back on `ModelLatency` p99. */
  readonly kind: ModelDeployment['kind'];
  readonly variants: readonly VariantDeployment[];
  readonly thresholds: AlarmThresholds;
  /** Where alarm and OK notifications go. */
  readonly topic: sns.ITopic;
  /**
   * Alarms defined elsewhere that also roll back this endpoint: the gateway's time to first token
   * and time per output token p99 of the model (see `GatewayAlarms.latencyOf`). @default []
   */
  readonly gatewayRollback?: readonly cloudwatch.IAlarm[];
}

/**
 * The metrics of one endpoint's variants, as SageMaker publishes them. `GPUUtilization` and
 * `GPUMemoryUtilization` are summed over the instance's GPUs (0–100 × GPU count), so the
 * per-GPU view divides by the GPU count of the instance type with metric math.
 */
export class EndpointMetrics {
  constructor(private readonly endpointName: string) {}

  private metric(
    namespace: string,
    metricName: string,
    variant: string,
    statistic: string,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace,
      metricName,
      dimensionsMap: { EndpointName: this.endpointName, VariantName: variant },
      statistic,
      period: Duration.minutes(1),
    });
  }

  /** Mean GPU utilization per GPU, percent. */
  gpuPerGpu(variant: VariantDeployment, metricName = 'GPUUtilization'): cloudwatch.MathExpression {
    const gpus = GPU_INSTANCE_TYPES[variant.instanceType].gpus;
    // Ids are unique per variant and metric, so one graph can hold every variant.
    const id = `${metricName === 'GPUUtilization' ? 'gpu' : 'mem'}_${variant.name.replace(/-/g, '_')}`;
    return new cloudwatch.MathExpression({
      expression: `${id} / ${gpus}`,
      usingMetrics: {
        [id]: this.metric(SAGEMAKER_INSTANCE_NAMESPACE, metricName, variant.name, 'Average'),
      },
      label: `${variant.name} ${metricName} per GPU`,
      period: Duration.minutes(1),
    });
  }

  invocations(variant: string): cloudwatch.Metric {
    return this.metric('AWS/SageMaker', 'Invocations', variant, 'Sum');
  }

  /** `ModelLatency` p99 in microseconds (the unit SageMaker publishes). */
  modelLatencyP99(variant: string): cloudwatch.Metric {
    return this.metric('AWS/SageMaker', 'ModelLatency', variant, 'p99');
  }

  /** `ModelLatency` p99 in milliseconds, for graphs. */
  modelLatencyP99Ms(variant: string): cloudwatch.MathExpression {
    const id = `lat_${variant.replace(/-/g, '_')}`;
    return new cloudwatch.MathExpression({
      expression: `${id} / 1000`,
      usingMetrics: { [id]: this.modelLatencyP99(variant) },
      label: `${variant} ModelLatency p99 (ms)`,
      period: Duration.minutes(1),
    });
  }

  /** `Invocation5XXErrors` as a percentage of invocations. */
  errorRate(variant: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'IF(inv > 0, 100 * err / inv, 0)',
      usingMetrics: {
        err: this.metric('AWS/SageMaker', 'Invocation5XXErrors', variant, 'Sum'),
        inv: this.invocations(variant),
      },
      label: `${variant} 5xx %`,
      period: Duration.minutes(1),
    });
  }
}

/**
 * Alarms of one endpoint, per variant: GPU utilization per GPU above the threshold for five
 * minutes, GPU memory and the `Invocation5XXErrors` rate, plus `ModelLatency` p99 on embedding
 * endpoints. The rollback alarms of blue/green deployments and traffic shifts are the 5xx rates,
 * the embedding `ModelLatency`, and the gateway's alarms passed in `gatewayRollback`; a generation
 * endpoint has no `ModelLatency` alarm, because `ModelLatency` covers the whole generation and a
 * fixed threshold trips on long, healthy answers (the dashboard shows it).
 */
export class EndpointAlarms extends Construct {
  public readonly metrics: EndpointMetrics;
  /** Every alarm this construct creates (not the gateway's). */
  public readonly all: cloudwatch.Alarm[] = [];
  /** Alarms that roll back a deployment or a traffic shift. */
  public readonly rollback: cloudwatch.IAlarm[] = [];

  constructor(scope: Construct, id: string, props: EndpointAlarmsProps) {
    super(scope, id);
    const t = props.thresholds;
    this.metrics = new EndpointMetrics(props.endpointName);
    const action = new actions.SnsAction(props.topic);

    for (const v of props.variants) {
      const add = (alarm: cloudwatch.Alarm, rollback: boolean): void => {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
        this.all.push(alarm);
        if (rollback) this.rollback.push(alarm);
      };
      add(
        new cloudwatch.Alarm(this, `${v.name}GpuUtilization`, {
          alarmDescription: `${props.endpointName}/${v.name}: GPU utilization above ${t.gpuUtilizationPercent}% per GPU for 5 minutes`,
          metric: this.metrics.gpuPerGpu(v),
          threshold: t.gpuUtilizationPercent,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        false,
      );
      add(
        new cloudwatch.Alarm(this, `${v.name}GpuMemory`, {
          alarmDescription: `${props.endpointName}/${v.name}: GPU memory above ${t.gpuMemoryPercent}% per GPU for 5 minutes`,
          metric: this.metrics.gpuPerGpu(v, 'GPUMemoryUtilization'),
          threshold: t.gpuMemoryPercent,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        false,
      );
      if (props.kind === 'embedding') {
        add(
          new cloudwatch.Alarm(this, `${v.name}ModelLatencyP99`, {
            alarmDescription: `${props.endpointName}/${v.name}: ModelLatency p99 above ${t.modelLatencyP99Ms} ms`,
            metric: this.metrics.modelLatencyP99(v.name),
            // ModelLatency is published in microseconds.
            threshold: t.modelLatencyP99Ms * 1000,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 3,
            datapointsToAlarm: 3,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
          true,
        );
      }
      add(
        new cloudwatch.Alarm(this, `${v.name}Invocation5xxRate`, {
          alarmDescription: `${props.endpointName}/${v.name}: Invocation5XXErrors above ${t.endpoint5xxPercent}% of invocations`,
          metric: this.metrics.errorRate(v.name),
          threshold: t.endpoint5xxPercent,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        true,
      );
    }
    this.rollback.push(...(props.gatewayRollback ?? []));
  }
}

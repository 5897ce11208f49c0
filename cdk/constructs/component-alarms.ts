import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AlarmThresholds, ModelDeployment } from '../config/schema.js';

/**
 * A metric SageMaker publishes per inference component in `AWS/SageMaker`, with the dimension
 * `InferenceComponentName` (the dimension SageMaker's scale-to-zero guide alarms on for
 * `NoCapacityInvocationFailures`).
 */
export function componentMetric(
  componentName: string,
  metricName: string,
  statistic: string,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/SageMaker',
    metricName,
    dimensionsMap: { InferenceComponentName: componentName },
    statistic,
    period: Duration.minutes(1),
  });
}

export interface ComponentAlarmsProps {
  readonly componentName: string;
  /** What the component serves: embedding components also roll back on `ModelLatency` p99. */
  readonly kind: ModelDeployment['kind'];
  readonly thresholds: AlarmThresholds;
  /** Where alarm and OK notifications go. */
  readonly topic: sns.ITopic;
  /**
   * Alarms defined elsewhere that also roll back the component: the gateway's time to first token
   * and time per output token p99 of the model (see `GatewayAlarms.latencyOf`). @default []
   */
  readonly gatewayRollback?: readonly cloudwatch.IAlarm[];
}

/**
 * Alarms of one inference component: the `Invocation5XXErrors` rate, and `ModelLatency` p99 for
 * embedding components. Both notify the alarm topic and roll back a rolling update, as do the
 * gateway's alarms in `gatewayRollback`. A generation component has no `ModelLatency` alarm: it
 * covers the whole generation and grows with the answer.
 */
export class ComponentAlarms extends Construct {
  /** Every alarm this construct creates (not the gateway's). */
  public readonly all: cloudwatch.Alarm[] = [];
  /** Alarms that roll back a rolling update. */
  public readonly rollback: cloudwatch.IAlarm[] = [];

  constructor(scope: Construct, id: string, props: ComponentAlarmsProps) {
    super(scope, id);
    const t = props.thresholds;
    const name = props.componentName;
    const action = new actions.SnsAction(props.topic);
    const latency =
      props.kind === 'embedding'
        ? new cloudwatch.Alarm(this, 'ModelLatencyP99', {
            alarmDescription: `${name}: ModelLatency p99 above ${t.modelLatencyP99Ms} ms`,
            metric: componentMetric(name, 'ModelLatency', 'p99'),
            // ModelLatency is published in microseconds.
            threshold: t.modelLatencyP99Ms * 1000,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 3,
            datapointsToAlarm: 3,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          })
        : undefined;
    const errors = new cloudwatch.Alarm(this, 'Invocation5xxRate', {
      alarmDescription: `${name}: Invocation5XXErrors above ${t.endpoint5xxPercent}% of invocations`,
      metric: new cloudwatch.MathExpression({
        expression: 'IF(inv > 0, 100 * err / inv, 0)',
        usingMetrics: {
          err: componentMetric(name, 'Invocation5XXErrors', 'Sum'),
          inv: componentMetric(name, 'Invocations', 'Sum'),
        },
        label: `${name} 5xx %`,
        period: Duration.minutes(1),
      }),
      threshold: t.endpoint5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of latency ? [errors, latency] : [errors]) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.all.push(alarm);
      this.rollback.push(alarm);
    }
    this.rollback.push(...(props.gatewayRollback ?? []));
  }
}

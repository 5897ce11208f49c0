import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AlarmThresholds } from '../config/schema.js';

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
  readonly thresholds: AlarmThresholds;
  /** Where alarm and OK notifications go. */
  readonly topic: sns.ITopic;
}

/**
 * Alarms of one inference component: `ModelLatency` p99 and the `Invocation5XXErrors` rate. Both
 * notify the alarm topic and roll back a rolling update of the component.
 */
export class ComponentAlarms extends Construct {
  /** Every alarm of the component. */
  public readonly all: cloudwatch.Alarm[] = [];
  /** Alarms that roll back a rolling update. */
  public readonly rollback: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ComponentAlarmsProps) {
    super(scope, id);
    const t = props.thresholds;
    const name = props.componentName;
    const action = new actions.SnsAction(props.topic);
    const latency = new cloudwatch.Alarm(this, 'ModelLatencyP99', {
      alarmDescription: `${name}: ModelLatency p99 above ${t.modelLatencyP99Ms} ms`,
      metric: componentMetric(name, 'ModelLatency', 'p99'),
      // ModelLatency is published in microseconds.
      threshold: t.modelLatencyP99Ms * 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
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
    for (const alarm of [latency, errors]) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.all.push(alarm);
      this.rollback.push(alarm);
    }
  }
}

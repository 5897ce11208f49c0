import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AlarmThresholds } from '../config/schema.js';

/** The EMF namespace the gateway writes (`edge/metrics/emf.ts`), with dimension `Model`. */
export const GATEWAY_NAMESPACE = 'Sluice/Gateway';

/** The gateway's EMF metrics of one model. */
export function gatewayMetric(
  model: string,
  metricName: string,
  statistic: string,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: GATEWAY_NAMESPACE,
    metricName,
    dimensionsMap: { Model: model },
    statistic,
    period: Duration.minutes(1),
  });
}

/** Gateway 5xx responses as a percentage of requests, for one model. */
export function gatewayErrorRate(model: string): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: 'IF(req > 0, 100 * err / req, 0)',
    usingMetrics: {
      err: gatewayMetric(model, 'Errors5xx', 'Sum'),
      req: gatewayMetric(model, 'Requests', 'Sum'),
    },
    label: `${model} gateway 5xx %`,
    period: Duration.minutes(1),
  });
}

export interface GatewayAlarmsProps {
  /** Public model ids (the `Model` dimension). */
  readonly models: readonly string[];
  readonly thresholds: AlarmThresholds;
  readonly topic: sns.ITopic;
}

/**
 * Alarms on the gateway's own metrics, per model: 5xx rate, `Latency` p99 and `QueueWait` p99.
 * The 5xx and latency alarms also roll back gateway deployments.
 */
export class GatewayAlarms extends Construct {
  public readonly all: cloudwatch.Alarm[] = [];
  public readonly rollback: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: GatewayAlarmsProps) {
    super(scope, id);
    if (props.models.length === 0) throw new Error('GatewayAlarms: no models');
    const t = props.thresholds;
    const action = new actions.SnsAction(props.topic);
    props.models.forEach((model, n) => {
      const make = (name: string, p: cloudwatch.AlarmProps, rollback: boolean): void => {
        const alarm = new cloudwatch.Alarm(this, `${name}${n}`, p);
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
        this.all.push(alarm);
        if (rollback) this.rollback.push(alarm);
      };
      make(
        'Errors5xxRate',
        {
          alarmDescription: `${model}: gateway 5xx above ${t.gateway5xxPercent}% of requests`,
          metric: gatewayErrorRate(model),
          threshold: t.gateway5xxPercent,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
        true,
      );
      make(
        'LatencyP99',
        {
          alarmDescription: `${model}: gateway Latency p99 above ${t.gatewayLatencyP99Ms} ms`,
          metric: gatewayMetric(model, 'Latency', 'p99'),
          threshold: t.gatewayLatencyP99Ms,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 3,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
        true,
      );
      make(
        'QueueWaitP99',
        {
          alarmDescription: `${model}: gateway QueueWait p99 above ${t.queueWaitP99Ms} ms`,
          metric: gatewayMetric(model, 'QueueWait', 'p99'),
          threshold: t.queueWaitP99Ms,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
        false,
      );
    });
  }
}

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AlarmThresholds, ModelDeployment } from '../config/schema.js';

/**
 * The EMF namespace the gateway writes (`edge/metrics/emf.ts`): request metrics with dimension
 * `Model`, per-target generation metrics with `Model` and `Target`.
 */
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

/**
 * The gateway's target id of a CDK-deployed model: the generated catalogue gives each model one
 * target, `default` (`cdk/config/gateway-catalogue.ts`); the per-target metrics carry it as `Target`.
 */
export const CATALOGUE_TARGET = 'default';

/** A gateway EMF metric of one model's target (dimensions `Model`, `Target`). */
export function gatewayTargetMetric(
  model: string,
  metricName: string,
  statistic: string,
  target: string = CATALOGUE_TARGET,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: GATEWAY_NAMESPACE,
    metricName,
    dimensionsMap: { Model: model, Target: target },
    statistic,
    period: Duration.minutes(1),
  });
}

export interface GatewayAlarmsProps {
  /** The models: public id (the `Model` dimension) and kind. */
  readonly models: readonly Pick<ModelDeployment, 'id' | 'kind'>[];
  readonly thresholds: AlarmThresholds;
  readonly topic: sns.ITopic;
}

/**
 * Alarms on the gateway's own metrics, per model: the 5xx rate, `QueueWait` p99 and a latency
 * that does not grow with the answer. For generation models that is time to first token and time
 * per output token, p99, of the model's target (`[Model, Target]`): a whole request's `Latency`
 * (like SageMaker's `ModelLatency`) grows with the number of tokens generated, so a fixed threshold
 * trips on long, healthy answers. For embedding models, whose work is bounded by the input, it is
 * `Latency` p99. The 5xx and latency alarms roll back gateway deployments, and the latency alarms of
 * a model also roll back its endpoint's or component's deployments ({@link latencyOf}).
 */
export class GatewayAlarms extends Construct {
  public readonly all: cloudwatch.Alarm[] = [];
  public readonly rollback: cloudwatch.Alarm[] = [];
  private readonly latency = new Map<string, cloudwatch.Alarm[]>();

  constructor(scope: Construct, id: string, props: GatewayAlarmsProps) {
    super(scope, id);
    if (props.models.length === 0) throw new Error('GatewayAlarms: no models');
    const t = props.thresholds;
    const action = new actions.SnsAction(props.topic);
    props.models.forEach(({ id: model, kind }, n) => {
      const make = (
        name: string,
        p: cloudwatch.AlarmProps,
        rollback: boolean,
      ): cloudwatch.Alarm => {
        const alarm = new cloudwatch.Alarm(this, `${name}${n}`, p);
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
        this.all.push(alarm);
        if (rollback) this.rollback.push(alarm);
        return alarm;
      };
      const p99 = (
        metric: cloudwatch.IMetric,
        description: string,
        threshold: number,
      ): cloudwatch.AlarmProps => ({
        alarmDescription: `${model}: ${description} above ${threshold} ms`,
        metric,
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
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
      this.latency.set(
        model,
        kind === 'embedding'
          ? [
              make(
                'LatencyP99',
                p99(
                  gatewayMetric(model, 'Latency', 'p99'),
                  'gateway Latency p99',
                  t.gatewayLatencyP99Ms,
                ),
                true,
              ),
            ]
          : [
              make(
                'TimeToFirstTokenP99',
                p99(
                  gatewayTargetMetric(model, 'TimeToFirstToken', 'p99'),
                  'time to first token p99',
                  t.ttftP99Ms,
                ),
                true,
              ),
              make(
                'TimePerOutputTokenP99',
                p99(
                  gatewayTargetMetric(model, 'TimePerOutputToken', 'p99'),
                  'time per output token p99',
                  t.tpotP99Ms,
                ),
                true,
              ),
            ],
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

  /**
   * The latency alarms of one model (TTFT and TPOT p99, or `Latency` p99 for embeddings), for the
   * rollback configuration of its endpoint or component.
   */
  latencyOf(model: string): cloudwatch.Alarm[] {
    const alarms = this.latency.get(model);
    if (!alarms) throw new Error(`GatewayAlarms: no alarms for model ${model}`);
    return alarms;
  }
}

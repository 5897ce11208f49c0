import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/** An endpoint the shifter may steer, with the alarms that stop and undo a shift. */
export interface ShiftableEndpoint {
  readonly endpointName: string;
  readonly endpointArn: string;
  readonly rollbackAlarms: readonly cloudwatch.IAlarm[];
}

export interface TrafficShifterProps {
  readonly endpoints: readonly ShiftableEndpoint[];
  /** Percent of traffic on the canary variant at each step; the first is the canary. @example [5, 25, 50, 100] */
  readonly steps: readonly number[];
  /** Time each step bakes before the alarms are read and the next step starts. */
  readonly bakeTime: Duration;
  /** Key of the execution log group. */
  readonly key: kms.IKey;
}

/**
 * A Step Functions state machine that moves a SageMaker endpoint's variant weights to a canary
 * variant in configured steps, using SDK integrations only (no Lambda):
 *
 * 1. accept only configured endpoints, and remember the variants' current weights;
 * 2. for each step: `UpdateEndpointWeightsAndCapacities` (canary gets the step's share, the other
 *    variants split the rest), wait for `InService`, bake, then `DescribeAlarms` on the
 *    endpoint's rollback alarms;
 * 3. if an alarm fires or a call fails: restore the remembered weights and fail.
 *
 * Input: `{ "endpointName": "sluice-deepseek-8b", "canaryVariant": "p4d" }`.
 */
export class TrafficShifter extends Construct {
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: TrafficShifterProps) {
    super(scope, id);
    if (props.endpoints.length === 0) throw new Error('TrafficShifter: no endpoints');
    if (props.steps.length === 0 || props.steps.some((s) => s < 1 || s > 100)) {
      throw new Error('TrafficShifter: steps must be percentages in 1..100');
    }
    if (props.steps.some((s, i) => i > 0 && s <= props.steps[i - 1]!)) {
      throw new Error('TrafficShifter: steps must increase');
    }
    const endpointArns = props.endpoints.map((e) => e.endpointArn);
    const alarmArns = props.endpoints.flatMap((e) => e.rollbackAlarms.map((a) => a.alarmArn));

    const rolledBack = sfn.Fail.jsonata(this, 'RolledBack', {
      error: 'TrafficShiftRolledBack',
      cause: 'A rollback alarm fired or a step failed; the previous weights were restored.',
    });
    const rollback = tasks.CallAwsService.jsonata(this, 'RestorePreviousWeights', {
      service: 'sagemaker',
      action: 'updateEndpointWeightsAndCapacities',
      parameters: {
        EndpointName: '{% $endpointName %}',
        DesiredWeightsAndCapacities: '{% $previous %}',
      },
      iamResources: endpointArns,
    });
    // The endpoint may still be Updating from the failed step; retry until it accepts the change.
    rollback.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(30),
      maxAttempts: 20,
      backoffRate: 1.2,
    });
    rollback.next(rolledBack);

    const describe = tasks.CallAwsService.jsonata(this, 'RememberWeights', {
      service: 'sagemaker',
      action: 'describeEndpoint',
      parameters: { EndpointName: '{% $endpointName %}' },
      iamResources: endpointArns,
      assign: {
        previous:
          '{% [$states.result.ProductionVariants.{ "VariantName": VariantName, "DesiredWeight": CurrentWeight }] %}',
        others: '{% $count($states.result.ProductionVariants[VariantName != $canaryVariant]) %}',
      },
    });

    const shift = tasks.CallAwsService.jsonata(this, 'ShiftWeights', {
      service: 'sagemaker',
      action: 'updateEndpointWeightsAndCapacities',
      parameters: {
        EndpointName: '{% $endpointName %}',
        DesiredWeightsAndCapacities:
          '{% $append($previous[VariantName != $canaryVariant].{ "VariantName": VariantName, "DesiredWeight": $others = 0 ? 0 : (100 - $steps[$i]) / $others }, [{ "VariantName": $canaryVariant, "DesiredWeight": $steps[$i] }]) %}',
      },
      iamResources: endpointArns,
    });
    shift.addCatch(rollback, { errors: ['States.ALL'] });

    const pause = sfn.Wait.jsonata(this, 'WaitForUpdate', {
      time: sfn.WaitTime.duration(Duration.seconds(30)),
    });
    const status = tasks.CallAwsService.jsonata(this, 'ReadStatus', {
      service: 'sagemaker',
      action: 'describeEndpoint',
      parameters: { EndpointName: '{% $endpointName %}' },
      iamResources: endpointArns,
      outputs: { status: '{% $states.result.EndpointStatus %}' },
    });
    status.addCatch(rollback, { errors: ['States.ALL'] });

    const bake = sfn.Wait.jsonata(this, 'Bake', { time: sfn.WaitTime.duration(props.bakeTime) });
    const alarms = tasks.CallAwsService.jsonata(this, 'ReadAlarms', {
      service: 'cloudwatch',
      action: 'describeAlarms',
      parameters: { AlarmNames: '{% $alarmNames %}', StateValue: 'ALARM' },
      iamResources: alarmArns,
      outputs: { firing: '{% $count($states.result.MetricAlarms) %}' },
    });
    alarms.addCatch(rollback, { errors: ['States.ALL'] });

    const advance = sfn.Pass.jsonata(this, 'NextStep', { assign: { i: '{% $i + 1 %}' } });
    const done = sfn.Succeed.jsonata(this, 'Shifted');
    const more = sfn.Choice.jsonata(this, 'MoreSteps')
      .when(sfn.Condition.jsonata('{% $i + 1 < $count($steps) %}'), advance.next(shift))
      .otherwise(done);
    const verdict = sfn.Choice.jsonata(this, 'AlarmsQuiet')
      .when(sfn.Condition.jsonata('{% $states.input.firing > 0 %}'), rollback)
      .otherwise(more);
    const ready = sfn.Choice.jsonata(this, 'InService')
      .when(
        sfn.Condition.jsonata("{% $states.input.status = 'InService' %}"),
        bake.next(alarms).next(verdict),
      )
      .when(sfn.Condition.jsonata("{% $states.input.status = 'Updating' %}"), pause)
      .otherwise(rollback);
    shift.next(pause);
    pause.next(status).next(ready);

    const unknown = sfn.Fail.jsonata(this, 'UnknownEndpoint', {
      error: 'UnknownEndpoint',
      cause: 'endpointName is not an endpoint this deployment manages',
    });
    const known = sfn.Choice.jsonata(this, 'KnownEndpoint');
    props.endpoints.forEach((e, n) => {
      const guard = sfn.Pass.jsonata(this, `Guard${n}`, {
        assign: {
          endpointName: e.endpointName,
          canaryVariant: '{% $states.input.canaryVariant %}',
          alarmNames: e.rollbackAlarms.map((a) => a.alarmName),
          steps: [...props.steps],
          i: 0,
        },
      });
      known.when(
        sfn.Condition.jsonata(
          `{% $states.input.endpointName = '${e.endpointName}' and $type($states.input.canaryVariant) = 'string' %}`,
        ),
        guard.next(describe),
      );
    });
    known.otherwise(unknown);
    describe.next(shift);
    describe.addCatch(unknown, { errors: ['States.ALL'] });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.key,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      queryLanguage: sfn.QueryLanguage.JSONATA,
      definitionBody: sfn.DefinitionBody.fromChainable(known),
      stateMachineType: sfn.StateMachineType.STANDARD,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      timeout: Duration.hours(24),
    });
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs vended delivery (logs:CreateLogDelivery, …) and X-Ray tracing actions do not support resource-level permissions; the CDK grants them on * for the state machine role.',
    });
  }
}

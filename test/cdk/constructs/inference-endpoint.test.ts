import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { type SluiceConfigInput, variantModels } from '../../../cdk/config/schema.js';
import {
  InferenceEndpoint,
  SAGEMAKER_MAX_WAIT_SECONDS,
  sagemakerBakeSeconds,
} from '../../../cdk/constructs/inference-endpoint.js';

const LONG = 120_000;

/** The first default model's endpoint, with `canary` and, if given, every variant's min/initial count. */
function endpointTemplate(canary: Record<string, unknown>, minCapacity?: number): Template {
  const input: SluiceConfigInput = { canary };
  if (minCapacity !== undefined) {
    const counts = { minCapacity, initialInstanceCount: minCapacity };
    input.models = [
      {
        id: 'deepseek-r1-distill-llama-8b',
        endpointName: 'sluice-deepseek-8b',
        kind: 'chat',
        variants: [
          {
            name: 'g5',
            instanceType: 'ml.g5.2xlarge',
            initialWeight: 95,
            maxCapacity: 4,
            ...counts,
          },
          {
            name: 'p4d',
            instanceType: 'ml.p4d.24xlarge',
            initialWeight: 5,
            maxCapacity: 2,
            ...counts,
          },
        ],
      },
    ];
  }
  const config = parseSluiceConfig(input);
  const stack = new Stack(new App(), 'Endpoint', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  new InferenceEndpoint(stack, 'Model', {
    model: variantModels(config.models)[0]!,
    artifacts: s3.Bucket.fromBucketName(stack, 'Artifacts', 'artifacts'),
    key: kms.Key.fromKeyArn(
      stack,
      'Key',
      'arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000',
    ),
    canary: config.canary,
    thresholds: config.alarms,
    topic: sns.Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:us-east-1:111111111111:alarms'),
  });
  return Template.fromStack(stack);
}

describe('InferenceEndpoint', () => {
  it(
    'caps the blue/green wait at SageMaker’s 3600 s maximum for bakes longer than an hour',
    () => {
      expect(sagemakerBakeSeconds(10)).toBe(600);
      expect(sagemakerBakeSeconds(60)).toBe(3600);
      expect(sagemakerBakeSeconds(120)).toBe(SAGEMAKER_MAX_WAIT_SECONDS);
      endpointTemplate({ bakeMinutes: 120 }).hasResourceProperties('AWS::SageMaker::Endpoint', {
        DeploymentConfig: {
          BlueGreenUpdatePolicy: Match.objectLike({
            TrafficRoutingConfiguration: Match.objectLike({ WaitIntervalInSeconds: 3600 }),
            // One bake (all at once), the termination wait, an hour for the new fleet to start.
            MaximumExecutionTimeoutInSeconds: 3600 + 600 + 3600,
          }),
        },
      });
    },
    LONG,
  );

  it(
    'updates single-instance variants all at once, baked and guarded, with no canary SageMaker would refuse',
    () => {
      endpointTemplate({}).hasResourceProperties('AWS::SageMaker::Endpoint', {
        DeploymentConfig: {
          BlueGreenUpdatePolicy: {
            TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 },
            TerminationWaitInSeconds: 600,
            MaximumExecutionTimeoutInSeconds: 600 + 600 + 3600,
          },
          AutoRollbackConfiguration: { Alarms: Match.arrayWith([{ AlarmName: Match.anyValue() }]) },
        },
      });
    },
    LONG,
  );

  it(
    'runs a one-instance canary where every variant keeps two instances, and takes the timeout setting',
    () => {
      endpointTemplate({ endpointUpdateTimeoutMinutes: 120 }, 2).hasResourceProperties(
        'AWS::SageMaker::Endpoint',
        {
          DeploymentConfig: {
            BlueGreenUpdatePolicy: {
              TrafficRoutingConfiguration: {
                Type: 'CANARY',
                CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 },
                WaitIntervalInSeconds: 600,
              },
              TerminationWaitInSeconds: 600,
              MaximumExecutionTimeoutInSeconds: 7200,
            },
            AutoRollbackConfiguration: Match.anyValue(),
          },
        },
      );
    },
    LONG,
  );

  it('refuses a canary policy a variant cannot honour, naming the setting and the variant', () => {
    expect(() => parseSluiceConfig({ canary: { endpointUpdate: 'canary' } })).toThrow(
      /models\[0\]\.variants\[0\] \(g5\) may run 1 instance\(s\)[^\n]*set canary\.endpointUpdate to "auto" or "all-at-once"[\s\S]*canary\.endpointUpdate/,
    );
    expect(() =>
      parseSluiceConfig({ canary: { endpointUpdate: 'canary', endpointCanaryInstances: 2 } }),
    ).toThrow(/raise that variant's minCapacity \(and initialInstanceCount\) to 4/);
  });

  it('refuses an execution timeout no longer than the deployment’s waits, naming the setting', () => {
    // All at once: one 600 s bake and a 600 s termination wait.
    expect(() => parseSluiceConfig({ canary: { endpointUpdateTimeoutMinutes: 20 } })).toThrow(
      /20 minutes does not exceed the 1200 s[\s\S]*canary\.endpointUpdateTimeoutMinutes/,
    );
    expect(() => parseSluiceConfig({ canary: { endpointUpdateTimeoutMinutes: 21 } })).not.toThrow();
  });

  it(
    'keeps autoscaled instance counts and shifted weights across deploys',
    () => {
      endpointTemplate({}).hasResourceProperties('AWS::SageMaker::Endpoint', {
        RetainAllVariantProperties: true,
        ExcludeRetainedVariantProperties: Match.absent(),
      });
    },
    LONG,
  );
});

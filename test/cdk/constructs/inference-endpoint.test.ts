import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { variantModels } from '../../../cdk/config/schema.js';
import {
  InferenceEndpoint,
  SAGEMAKER_MAX_WAIT_SECONDS,
  sagemakerBakeSeconds,
} from '../../../cdk/constructs/inference-endpoint.js';

function endpointTemplate(canary: Record<string, unknown>): Template {
  const config = parseSluiceConfig({ canary });
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
  it('caps the blue/green wait at SageMaker’s 3600 s maximum for bakes longer than an hour', () => {
    expect(sagemakerBakeSeconds(10)).toBe(600);
    expect(sagemakerBakeSeconds(60)).toBe(3600);
    expect(sagemakerBakeSeconds(120)).toBe(SAGEMAKER_MAX_WAIT_SECONDS);
    endpointTemplate({ bakeMinutes: 120 }).hasResourceProperties('AWS::SageMaker::Endpoint', {
      DeploymentConfig: {
        BlueGreenUpdatePolicy: Match.objectLike({
          TrafficRoutingConfiguration: Match.objectLike({ WaitIntervalInSeconds: 3600 }),
          MaximumExecutionTimeoutInSeconds: 2 * 3600 + 600 + 3600,
        }),
      },
    });
  });

  it('keeps autoscaled instance counts and shifted weights across deploys', () => {
    endpointTemplate({}).hasResourceProperties('AWS::SageMaker::Endpoint', {
      RetainAllVariantProperties: true,
      ExcludeRetainedVariantProperties: Match.absent(),
    });
  });
});

import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import {
  GatewayFunction,
  type GatewayFunctionProps,
} from '../../../cdk/constructs/gateway-function.js';

const ENDPOINT = 'arn:aws:sagemaker:us-east-1:111111111111:endpoint/sluice-chat';

function gateway(props: Partial<GatewayFunctionProps> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Gateway', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  new GatewayFunction(stack, 'Gateway', {
    environment: { SLUICE_METRICS: 'emf' },
    endpointArns: [ENDPOINT],
    vpcSubnets: vpc.isolatedSubnets.length ? vpc.isolatedSubnets : vpc.publicSubnets,
    securityGroup: new ec2.SecurityGroup(stack, 'Sg', { vpc }),
    key: new kms.Key(stack, 'Key'),
    rollbackAlarms: [
      new cloudwatch.Alarm(stack, 'Errors', {
        metric: new cloudwatch.Metric({ namespace: 'Sluice', metricName: 'Errors' }),
        threshold: 1,
        evaluationPeriods: 1,
      }),
    ],
    ...props,
  });
  return Template.fromStack(stack);
}

// Synthesizing the function and its pre-traffic hook takes seconds on 2 cores.
describe('GatewayFunction', { timeout: 120_000 }, () => {
  it('sets the worker count so the runtime does not start 8 workers per vCPU', () => {
    const template = gateway({ memoryMiB: 8192, memoryGiBPerVCpu: 2 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 8192,
      Environment: {
        Variables: Match.objectLike({ AWS_LAMBDA_NODEJS_WORKER_COUNT: '4', SLUICE_METRICS: 'emf' }),
      },
      CapacityProviderConfig: {
        LambdaManagedInstancesCapacityProviderConfig: Match.objectLike({
          PerExecutionEnvironmentMaxConcurrency: 64,
          ExecutionEnvironmentMemoryGiBPerVCpu: 2,
        }),
      },
    });
  });

  it('takes an explicit worker count', () => {
    gateway({ workersPerEnvironment: 3, maxConcurrency: 12 }).hasResourceProperties(
      'AWS::Lambda::Function',
      {
        Environment: {
          Variables: Match.objectLike({ AWS_LAMBDA_NODEJS_WORKER_COUNT: '3' }),
        },
      },
    );
  });

  it('refuses memory below one whole vCPU and concurrency below one request per worker', () => {
    expect(() => gateway({ memoryMiB: 3072, memoryGiBPerVCpu: 2 })).toThrow(/memoryMiB/);
    expect(() => gateway({ memoryMiB: 4096, memoryGiBPerVCpu: 8 })).toThrow(/memoryMiB/);
    expect(() => gateway({ workersPerEnvironment: 4, maxConcurrency: 2 })).toThrow(
      /maxConcurrency/,
    );
    expect(() => gateway({ maxConcurrency: 1601 })).toThrow(/maxConcurrency/);
  });
});

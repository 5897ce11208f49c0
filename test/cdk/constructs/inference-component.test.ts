import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../../../shared/config/schema.js';
import { gatewayCatalogue } from '../../../cdk/config/gateway-catalogue.js';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import type { SluiceConfigInput } from '../../../cdk/config/schema.js';
import { nagPacks } from '../../../cdk/stacks/nag.js';
import { buildSluiceApp, type SluiceStacks } from '../../../cdk/stacks/sluice-app.js';

const LONG = 120_000;

/** docs/deploy.md's example: a DeepSeek distill and an embedding model on one ml.g5.12xlarge. */
const SHARED: SluiceConfigInput = {
  availabilityZones: ['us-east-1a', 'us-east-1b'],
  sharedEndpoints: [
    {
      name: 'sluice-shared-g5',
      instanceType: 'ml.g5.12xlarge',
      initialInstanceCount: 1,
      minInstanceCount: 1,
      maxInstanceCount: 2,
    },
  ],
  models: [
    {
      id: 'deepseek-r1-distill-llama-8b',
      kind: 'chat',
      version: 'v2',
      imageTag: '0.33.0-lmi15.0.0-cu128',
      reasoningParser: 'deepseek_r1',
      inferenceComponent: {
        endpoint: 'sluice-shared-g5',
        name: 'deepseek-8b',
        acceleratorDevices: 1,
        minMemoryMb: 24_576,
        cpuCores: 4,
        initialCopies: 1,
        minCopies: 0,
        maxCopies: 3,
        scaleToZero: true,
      },
    },
    {
      id: 'bge-large-en',
      kind: 'embedding',
      inferenceComponent: {
        endpoint: 'sluice-shared-g5',
        name: 'bge-large',
        acceleratorDevices: 1,
        minMemoryMb: 8192,
        initialCopies: 1,
        minCopies: 1,
        maxCopies: 1,
        targetInvocationsPerCopy: 600,
      },
    },
  ],
};

type Statement = { Action: string | string[]; Resource: unknown };
let app: App;
let stacks: SluiceStacks;
let t: Template;

beforeAll(() => {
  app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSluiceApp(app, parseSluiceConfig(SHARED));
  t = Template.fromStack(stacks.serving);
}, LONG);

describe('InferenceComponent on a shared endpoint', () => {
  it('places each model as a component with its GPUs, memory, CPUs and initial copies', () => {
    t.resourceCountIs('AWS::SageMaker::InferenceComponent', 2);
    t.hasResourceProperties('AWS::SageMaker::InferenceComponent', {
      InferenceComponentName: 'deepseek-8b',
      EndpointName: { 'Fn::GetAtt': [Match.anyValue(), 'EndpointName'] },
      VariantName: 'AllTraffic',
      Specification: {
        ModelName: { 'Fn::GetAtt': [Match.anyValue(), 'ModelName'] },
        ComputeResourceRequirements: {
          NumberOfAcceleratorDevicesRequired: 1,
          MinMemoryRequiredInMb: 24_576,
          NumberOfCpuCoresRequired: 4,
        },
        StartupParameters: {
          ModelDataDownloadTimeoutInSeconds: 1800,
          ContainerStartupHealthCheckTimeoutInSeconds: 1800,
        },
      },
      RuntimeConfig: { CopyCount: 1 },
    });
    t.hasResourceProperties('AWS::SageMaker::InferenceComponent', {
      InferenceComponentName: 'bge-large',
      Specification: Match.objectLike({
        ComputeResourceRequirements: {
          NumberOfAcceleratorDevicesRequired: 1,
          MinMemoryRequiredInMb: 8192,
        },
      }),
    });
  });

  it('rolls a new version out one copy at a time and rolls back on the component’s alarms', () => {
    t.hasResourceProperties('AWS::SageMaker::InferenceComponent', {
      InferenceComponentName: 'deepseek-8b',
      DeploymentConfig: {
        RollingUpdatePolicy: {
          MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 },
          WaitIntervalInSeconds: 600,
          // 3 copies at most × (30 min start + 10 min bake)
          MaximumExecutionTimeoutInSeconds: 7200,
        },
        // The component's 5xx rate and the gateway's TTFT and TPOT p99 of the model.
        AutoRollbackConfiguration: {
          Alarms: [
            { AlarmName: { Ref: Match.anyValue() } },
            { AlarmName: { Ref: Match.anyValue() } },
            { AlarmName: { Ref: Match.anyValue() } },
          ],
        },
      },
    });
    const ic = Object.values(
      t.findResources('AWS::SageMaker::InferenceComponent', {
        Properties: { InferenceComponentName: 'deepseek-8b' },
      }),
    )[0]!;
    const alarmIds = (
      ic.Properties.DeploymentConfig.AutoRollbackConfiguration.Alarms as {
        AlarmName: { Ref: string };
      }[]
    ).map((a) => a.AlarmName.Ref);
    const alarms = t.findResources('AWS::CloudWatch::Alarm');
    const metricsOf = (id: string): string => JSON.stringify(alarms[id]!.Properties);
    const watched = alarmIds.map(metricsOf);
    // ModelLatency covers a whole generation and grows with the answer: not a rollback measure.
    expect(watched.some((m) => m.includes('"ModelLatency"'))).toBe(false);
    const errors = watched.filter((m) => m.includes('"Invocation5XXErrors"'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('{"Name":"InferenceComponentName","Value":"deepseek-8b"}');
    for (const metric of ['TimeToFirstToken', 'TimePerOutputToken']) {
      expect(
        watched.filter(
          (m) =>
            m.includes(`"MetricName":"${metric}"`) &&
            m.includes(
              '[{"Name":"Model","Value":"deepseek-r1-distill-llama-8b"},{"Name":"Target","Value":"default"}]',
            ),
        ),
      ).toHaveLength(1);
    }
    // The embedding component rolls back on its ModelLatency: its work does not grow with an answer.
    const bge = Object.values(
      t.findResources('AWS::SageMaker::InferenceComponent', {
        Properties: { InferenceComponentName: 'bge-large' },
      }),
    )[0]!.Properties.DeploymentConfig.AutoRollbackConfiguration.Alarms as {
      AlarmName: { Ref: string };
    }[];
    expect(
      bge.map((a) => metricsOf(a.AlarmName.Ref)).some((m) => m.includes('"ModelLatency"')),
    ).toBe(true);
  });

  it('shapes the endpoint config for components: role, managed instance scaling, least outstanding requests, no model', () => {
    t.resourceCountIs('AWS::SageMaker::EndpointConfig', 1);
    t.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ExecutionRoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
      KmsKeyId: Match.absent(),
      ProductionVariants: [
        {
          VariantName: 'AllTraffic',
          InstanceType: 'ml.g5.12xlarge',
          InitialInstanceCount: 1,
          ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2 },
          RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
        },
      ],
    });
    t.hasResourceProperties('AWS::SageMaker::Endpoint', {
      EndpointName: 'sluice-shared-g5',
      DeploymentConfig: Match.absent(),
    });
  });

  it('scales copies on invocations per copy within minCopies..maxCopies', () => {
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ServiceNamespace: 'sagemaker',
      ResourceId: 'inference-component/deepseek-8b',
      ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount',
      MinCapacity: 0,
      MaxCapacity: 3,
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ResourceId: 'inference-component/bge-large',
      MinCapacity: 1,
      MaxCapacity: 1,
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: {
          PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy',
        },
        TargetValue: 20,
      }),
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 600 }),
    });
  });

  it('brings a component back from zero: a step policy started by NoCapacityInvocationFailures', () => {
    const steps = t.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', {
      Properties: { PolicyType: 'StepScaling' },
    });
    // Only the scale-to-zero component has one.
    expect(Object.keys(steps)).toHaveLength(1);
    const [stepId, step] = Object.entries(steps)[0]!;
    expect(step.Properties.StepScalingPolicyConfiguration).toEqual({
      AdjustmentType: 'ChangeInCapacity',
      MetricAggregationType: 'Maximum',
      Cooldown: 60,
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SageMaker',
      MetricName: 'NoCapacityInvocationFailures',
      Dimensions: [{ Name: 'InferenceComponentName', Value: 'deepseek-8b' }],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      AlarmActions: [{ Ref: stepId }],
    });
  });

  it('runs LMI with the component’s GPU count as tensor-parallel degree and the reasoning parser', () => {
    t.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: {
        Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128',
        Environment: {
          HF_MODEL_ID: '/opt/ml/model',
          OPTION_ROLLING_BATCH: 'vllm',
          OPTION_MAX_ROLLING_BATCH_SIZE: '64',
          OPTION_TENSOR_PARALLEL_DEGREE: '1',
          OPTION_ENABLE_REASONING: 'true',
          OPTION_REASONING_PARSER: 'deepseek_r1',
        },
        ModelDataSource: Match.objectLike({
          S3DataSource: Match.objectLike({ CompressionType: 'None' }),
        }),
      },
      EnableNetworkIsolation: true,
    });
  });

  it('lets the gateway invoke the shared endpoint and describe exactly the components', () => {
    const role = stacks.serving.getLogicalId(
      stacks.serving.gateway.function.role!.node.defaultChild as CfnElement,
    );
    const gateway = Object.values(
      t.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }),
    ).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const actions = (s: Statement): string[] => [s.Action].flat();
    const describe = gateway.filter((s) =>
      actions(s).includes('sagemaker:DescribeInferenceComponent'),
    );
    expect(describe).toHaveLength(1);
    expect(actions(describe[0]!)).toEqual(['sagemaker:DescribeInferenceComponent']);
    expect(stacks.serving.resolve(describe[0]!.Resource)).toEqual(
      stacks.serving.components.map((c) => stacks.serving.resolve(c.componentArn)),
    );
    expect(JSON.stringify(describe[0]!.Resource)).toContain(
      ':sagemaker:us-east-1:111111111111:inference-component/deepseek-8b',
    );
    const invoke = gateway.find((s) => actions(s).includes('sagemaker:InvokeEndpoint'))!;
    expect(JSON.stringify(invoke.Resource)).toContain(':endpoint/sluice-shared-g5');
    // Nothing to shift without a variant endpoint: no state machine, no StartExecution.
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    expect(gateway.some((s) => actions(s).includes('states:StartExecution'))).toBe(false);
  });

  it('lets the endpoint’s role read exactly the components’ prefixes', () => {
    const reads = Object.values(t.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => [s.Action].flat().includes('s3:GetObject'));
    expect(reads).toHaveLength(1);
    const text = JSON.stringify(reads[0]!.Resource);
    expect(text).toContain('/models/deepseek-r1-distill-llama-8b/v2/*');
    expect(text).toContain('/models/bge-large-en/v1/*');
  });

  it('points the gateway catalogue at the shared endpoint and the component name', () => {
    const catalogue = gatewayConfigSchema.parse(gatewayCatalogue(parseSluiceConfig(SHARED)));
    expect(catalogue.models[0]!.targets).toEqual([
      {
        id: 'default',
        endpoint: 'sluice-shared-g5',
        inferenceComponent: 'deepseek-8b',
        weight: 100,
      },
    ]);
    expect(catalogue.models[0]).toMatchObject({ format: 'openai', reasoning: 'field' });
    expect(catalogue.models[1]).toMatchObject({ format: 'tei', policy: 'batch' });
  });

  it('has no unacknowledged cdk-nag error', () => {
    for (const pack of nagPacks(app)) {
      const errors = pack
        .validateScope(stacks.serving)
        .violations.filter((v) => v.severity === 'error');
      expect(errors.map((e) => e.ruleName)).toEqual([]);
    }
  });
});

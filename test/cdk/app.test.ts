import { App, type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../../shared/config/schema.js';
import { parseSluiceConfig } from '../../cdk/config/load.js';
import { variantModels } from '../../cdk/config/schema.js';
import { EdgeDistribution } from '../../cdk/constructs/edge-distribution.js';
import { nagPacks } from '../../cdk/stacks/nag.js';
import { buildSluiceApp, type SluiceStacks } from '../../cdk/stacks/sluice-app.js';

const LONG = 120_000;
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
const config = parseSluiceConfig({ availabilityZones: ZONES });
let app: App;
let stacks: SluiceStacks;
let t: { data: Template; identity: Template; edgeSecurity: Template; serving: Template };

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement,
  );
}
const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement): unknown[] =>
  Array.isArray(s.Resource) ? s.Resource : [s.Resource];

/** How the serving stack refers to a data-stack resource: the import of the export of `value`. */
function importOf(value: unknown): unknown {
  const outputs = t.data.toJSON().Outputs as Record<
    string,
    { Value: unknown; Export?: { Name: string } }
  >;
  const output = Object.values(outputs).find(
    (o) => JSON.stringify(o.Value) === JSON.stringify(value),
  );
  expect(output?.Export).toBeDefined();
  return { 'Fn::ImportValue': output!.Export!.Name };
}
const onlyId = (tpl: Template, type: string): string => {
  const ids = Object.keys(tpl.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0]!;
};
const subnetZones = (tpl: Template): string[] =>
  Object.values(tpl.findResources('AWS::EC2::Subnet')).map(
    (s) => (s as { Properties: { AvailabilityZone: string } }).Properties.AvailabilityZone,
  );
type AlarmProps = { AlarmActions?: unknown[]; Metrics?: unknown[] };
const alarmsOf = (): AlarmProps[] =>
  Object.values(t.serving.findResources('AWS::CloudWatch::Alarm')).map(
    (a) => (a as { Properties: AlarmProps }).Properties,
  );

beforeAll(() => {
  app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSluiceApp(app, config);
  t = {
    data: Template.fromStack(stacks.data),
    identity: Template.fromStack(stacks.identity),
    edgeSecurity: Template.fromStack(stacks.edgeSecurity),
    serving: Template.fromStack(stacks.serving),
  };
}, LONG);

describe('the whole app', () => {
  it('synthesizes every stack with the cdk-nag plugins registered', () => {
    const assembly = app.synth();
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual(
      ['SluiceData', 'SluiceEdgeSecurity', 'SluiceIdentity', 'SluiceServing'].sort(),
    );
  });

  it('has no unacknowledged cdk-nag error in any stack', () => {
    for (const stack of Object.values(stacks)) {
      for (const pack of nagPacks(app)) {
        const errors = pack.validateScope(stack).violations.filter((v) => v.severity === 'error');
        expect(errors.map((e) => `${stack.stackName}: ${e.ruleName}`)).toEqual([]);
      }
    }
  });

  it('gives every acknowledged finding a reason', () => {
    for (const stack of Object.values(stacks)) {
      for (const c of (stack as Stack).node.findAll()) {
        for (const entry of c.node.metadata.filter(
          (m) => m.type === 'aws:cdk:acknowledged-rules',
        )) {
          for (const reason of Object.values(
            entry.data as Record<string, string | { reason?: string }>,
          )) {
            const text = typeof reason === 'string' ? reason : reason.reason;
            expect(text?.length ?? 0).toBeGreaterThan(30);
          }
        }
      }
    }
  });
});

describe('encryption and storage', () => {
  it('turns key rotation on', () => {
    t.data.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    t.data.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/sluice' });
  });

  it('encrypts the artifact bucket with the customer key and bucket keys, and tiers noncurrent versions', () => {
    t.data.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: Match.anyValue(),
            },
          },
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue() },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            NoncurrentVersionTransitions: [
              { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
              { StorageClass: 'GLACIER', TransitionInDays: 90 },
            ],
          }),
          Match.objectLike({
            Prefix: 'archive/',
            Transitions: [{ StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 30 }],
          }),
        ]),
      },
    });
  });

  it('uses SSE-S3 only on the log-delivery buckets', () => {
    const all = [t.data, t.edgeSecurity].flatMap((tpl) =>
      Object.values(tpl.findResources('AWS::S3::Bucket')),
    );
    const sse = (b: unknown): string =>
      (
        b as {
          Properties: {
            BucketEncryption: {
              ServerSideEncryptionConfiguration: {
                ServerSideEncryptionByDefault: { SSEAlgorithm: string };
              }[];
            };
          };
        }
      ).Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]!
        .ServerSideEncryptionByDefault.SSEAlgorithm;
    expect(all.map(sse).sort()).toEqual(['AES256', 'AES256', 'aws:kms']);
    // The data stack's SSE-S3 bucket is the access-log destination of the artifact bucket.
    const dataBuckets = t.data.findResources('AWS::S3::Bucket');
    const logIds = Object.entries(dataBuckets)
      .filter(([, b]) => sse(b) === 'AES256')
      .map(([id]) => id);
    t.data.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: logIds[0] } },
    });
    t.edgeSecurity.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.stringLikeRegexp('^aws-waf-logs-'),
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
        ],
      },
    });
  });

  it('blocks public access and denies non-TLS requests on every bucket', () => {
    for (const tpl of [t.data, t.edgeSecurity]) {
      const buckets = Object.values(tpl.findResources('AWS::S3::Bucket'));
      for (const b of buckets) {
        expect(
          (b as { Properties: Record<string, unknown> }).Properties.PublicAccessBlockConfiguration,
        ).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
      }
      expect(
        Object.keys(
          tpl.findResources('AWS::S3::BucketPolicy', {
            Properties: {
              PolicyDocument: {
                Statement: Match.arrayWith([
                  Match.objectLike({
                    Effect: 'Deny',
                    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
                  }),
                ]),
              },
            },
          }),
        ),
      ).toHaveLength(buckets.length);
    }
  });

  it('encrypts every log group with the customer key', () => {
    const groups = Object.values(t.serving.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(4);
    for (const g of groups)
      expect((g as { Properties: Record<string, unknown> }).Properties.KmsKeyId).toBeDefined();
  });

  it('encrypts the alarm topic', () => {
    t.data.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });
});

describe('inference endpoints', () => {
  it('loads uncompressed model data from the hot tier with a pinned DLC image', () => {
    t.serving.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: {
        Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.30.0-lmi12.0.0-cu124',
        ModelDataSource: {
          S3DataSource: {
            S3DataType: 'S3Prefix',
            CompressionType: 'None',
            S3Uri: Match.anyValue(),
          },
        },
      },
      EnableNetworkIsolation: true,
    });
    t.serving.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: {
        Image: Match.stringLikeRegexp(
          '^683313688378\\.dkr\\.ecr\\.us-east-1\\.amazonaws\\.com/tei:',
        ),
      },
    });
  });

  it('starts every container with HF_MODEL_ID at the model directory, which TEI and LMI require', () => {
    const models = Object.values(t.serving.findResources('AWS::SageMaker::Model')).map(
      (m) =>
        (
          m as {
            Properties: {
              PrimaryContainer: { Image: string; Environment: Record<string, string> };
            };
          }
        ).Properties.PrimaryContainer,
    );
    const images = models.map((c) => c.Image.replace(/^.*\/([a-z-]+):.*$/, '$1'));
    expect(new Set(images)).toEqual(new Set(['djl-inference', 'tei']));
    for (const c of models) expect(c.Environment.HF_MODEL_ID).toBe('/opt/ml/model');
  });

  it('puts variants on g5 and p4d with their weights, and no KmsKeyId on those configs', () => {
    t.serving.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      KmsKeyId: Match.absent(),
      ProductionVariants: [
        Match.objectLike({
          VariantName: 'g5',
          InstanceType: 'ml.g5.2xlarge',
          InitialVariantWeight: 95,
        }),
        Match.objectLike({
          VariantName: 'p4d',
          InstanceType: 'ml.p4d.24xlarge',
          InitialVariantWeight: 5,
        }),
      ],
    });
    for (const c of Object.values(t.serving.findResources('AWS::SageMaker::EndpointConfig'))) {
      expect((c as { Properties: Record<string, unknown> }).Properties.KmsKeyId).toBeUndefined();
    }
  });

  it('deploys the single-instance default variants blue/green all at once, with bake time, termination wait and alarm rollback', () => {
    t.serving.hasResourceProperties('AWS::SageMaker::Endpoint', {
      EndpointName: 'sluice-deepseek-8b',
      DeploymentConfig: {
        BlueGreenUpdatePolicy: {
          TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 },
          TerminationWaitInSeconds: 600,
          MaximumExecutionTimeoutInSeconds: Match.anyValue(),
        },
        AutoRollbackConfiguration: { Alarms: Match.arrayWith([{ AlarmName: Match.anyValue() }]) },
      },
    });
  });

  it('scales each variant on invocations per instance and on GPU utilization within the configured bounds', () => {
    t.serving.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ResourceId: 'endpoint/sluice-deepseek-8b/variant/p4d',
      ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
      MinCapacity: 1,
      MaxCapacity: 2,
    });
    t.serving.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ResourceId: 'endpoint/sluice-deepseek-8b/variant/g5',
      MinCapacity: 1,
      MaxCapacity: 4,
    });
    t.serving.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        PredefinedMetricSpecification: {
          PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance',
        },
        TargetValue: 100,
      },
    });
    t.serving.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: Match.objectLike({ AdjustmentType: 'ChangeInCapacity' }),
    });
  });

  it('lets the execution role read exactly its model prefix and decrypt with exactly the key', () => {
    const role = statements(t.serving).filter((s) => actionsOf(s).includes('s3:GetObject'));
    expect(JSON.stringify(role)).toContain('/models/deepseek-r1-distill-llama-8b/v1/*');
    const keyArn = importOf({ 'Fn::GetAtt': [onlyId(t.data, 'AWS::KMS::Key'), 'Arn'] });
    const decrypt = statements(t.serving).filter((s) => actionsOf(s).includes('kms:Decrypt'));
    // Every role that may decrypt (models, the gateway through DynamoDB, usage delivery) may use
    // exactly the key; the execution roles may only decrypt.
    for (const s of decrypt) expect(s.Resource).toEqual(keyArn);
    const decryptOnly = decrypt.filter((s) => actionsOf(s).length === 1);
    expect(decryptOnly).toHaveLength(config.models.length);
  });
});

describe('alarms', () => {
  const alarm = (props: Record<string, unknown>) =>
    t.serving.hasResourceProperties('AWS::CloudWatch::Alarm', props);

  it('alarms on GPU utilization above 90% per GPU for 5 minutes, dividing by the GPU count', () => {
    alarm({
      Threshold: 90,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'gpu_p4d / 8' }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'GPUUtilization' }),
            Period: 60,
          }),
        }),
      ]),
    });
    alarm({
      Threshold: 90,
      EvaluationPeriods: 5,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'gpu_g5 / 1' })]),
    });
  });

  it('alarms on GPU memory above 90% per GPU for 5 one-minute periods', () => {
    alarm({
      Threshold: 90,
      EvaluationPeriods: 5,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'mem_p4d / 8' }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'GPUMemoryUtilization' }),
            Period: 60,
          }),
        }),
      ]),
    });
  });

  it('alarms on ModelLatency p99 (in microseconds) of the embedding endpoint only, and every Invocation5XXErrors rate', () => {
    const latency = Object.values(
      t.serving.findResources('AWS::CloudWatch::Alarm', {
        Properties: { MetricName: 'ModelLatency' },
      }),
    ).map((a) => a.Properties);
    expect(latency).toEqual([
      expect.objectContaining({
        Namespace: 'AWS/SageMaker',
        ExtendedStatistic: 'p99',
        Period: 60,
        Threshold: 10_000_000,
        Dimensions: expect.arrayContaining([{ Name: 'EndpointName', Value: 'sluice-bge-large' }]),
      }),
    ]);
    alarm({
      Threshold: 1,
      EvaluationPeriods: 3,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(inv > 0, 100 * err / inv, 0)' }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'Invocation5XXErrors' }),
            Period: 60,
          }),
        }),
      ]),
    });
  });

  it('alarms on the gateway 5xx rate, p99 latency and queue wait from its EMF metrics', () => {
    alarm({
      Threshold: 1,
      EvaluationPeriods: 3,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(req > 0, 100 * err / req, 0)' }),
        Match.objectLike({ MetricStat: Match.objectLike({ Period: 60 }) }),
      ]),
    });
    alarm({
      Namespace: 'Sluice/Gateway',
      MetricName: 'Latency',
      Dimensions: [{ Name: 'Model', Value: 'bge-large-en' }],
      ExtendedStatistic: 'p99',
      Period: 60,
      Threshold: 15_000,
    });
    for (const [metric, threshold] of [
      ['TimeToFirstToken', 5_000],
      ['TimePerOutputToken', 250],
    ] as const) {
      alarm({
        Namespace: 'Sluice/Gateway',
        MetricName: metric,
        Dimensions: Match.arrayEquals([
          { Name: 'Model', Value: 'deepseek-r1-distill-llama-8b' },
          { Name: 'Target', Value: 'default' },
        ]),
        ExtendedStatistic: 'p99',
        Period: 60,
        Threshold: threshold,
      });
    }
    // A generation's whole Latency grows with its answer: no alarm on it.
    expect(
      t.serving.findResources('AWS::CloudWatch::Alarm', {
        Properties: {
          MetricName: 'Latency',
          Dimensions: [{ Name: 'Model', Value: 'deepseek-r1-distill-llama-8b' }],
        },
      }),
    ).toEqual({});
    alarm({
      Namespace: 'Sluice/Gateway',
      MetricName: 'QueueWait',
      ExtendedStatistic: 'p99',
      Period: 60,
      Threshold: 2_000,
      EvaluationPeriods: 5,
    });
  });

  it('sends every alarm but the step-scaling ones to the alarm topic, and draws the dashboard', () => {
    const topic = importOf({ Ref: onlyId(t.data, 'AWS::SNS::Topic') });
    const policies = Object.keys(
      t.serving.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', {
        Properties: { PolicyType: 'StepScaling' },
      }),
    );
    const scaling = alarmsOf().filter((a) =>
      policies.some((id) => JSON.stringify(a.AlarmActions) === JSON.stringify([{ Ref: id }])),
    );
    const others = alarmsOf().filter((a) => !scaling.includes(a));
    // Two step-scaling alarms (upper and lower) per variant; per variant GPU, GPU memory and 5xx
    // (and ModelLatency for embeddings); per model gateway 5xx, queue wait and TTFT + TPOT
    // (generation) or Latency (embeddings).
    const variants = variantModels(config.models).flatMap((m) => m.variants.map(() => m.kind));
    const embedding = (k: string): number => (k === 'embedding' ? 1 : 0);
    expect(scaling).toHaveLength(2 * variants.length);
    expect(others).toHaveLength(
      variants.reduce((n, k) => n + 3 + embedding(k), 0) +
        config.models.reduce((n, m) => n + 2 + (embedding(m.kind) ? 1 : 2), 0),
    );
    for (const a of others) expect(a.AlarmActions).toEqual([topic]);
    t.serving.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('rolls back endpoint deployments, traffic shifts and gateway deployments on error rates and TTFT/TPOT p99, never on a generation’s whole latency', () => {
    const alarms = t.serving.findResources('AWS::CloudWatch::Alarm');
    /** What an alarm watches: its metric names and the model or endpoint it names. */
    const watched = (ref: unknown): string => {
      const p = alarms[(ref as { Ref: string }).Ref]!.Properties as Record<string, unknown>;
      const metrics = (p.Metrics as { MetricStat?: { Metric: Record<string, unknown> } }[]) ?? [
        { MetricStat: { Metric: p } },
      ];
      return metrics
        .flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
        .map((m) => `${m.MetricName}@${JSON.stringify(m.Dimensions)}`)
        .join('+');
    };
    const endpoint = (name: string) =>
      Object.values(
        t.serving.findResources('AWS::SageMaker::Endpoint', {
          Properties: { EndpointName: name },
        }),
      )[0]!.Properties.DeploymentConfig.AutoRollbackConfiguration.Alarms.map(
        (a: { AlarmName: unknown }) => watched(a.AlarmName),
      ) as string[];
    const chat = endpoint('sluice-deepseek-8b');
    expect(chat).toHaveLength(4);
    expect(chat.filter((w) => w.startsWith('Invocation5XXErrors@'))).toHaveLength(2);
    expect(chat).toContain(
      'TimeToFirstToken@[{"Name":"Model","Value":"deepseek-r1-distill-llama-8b"},{"Name":"Target","Value":"default"}]',
    );
    expect(chat).toContain(
      'TimePerOutputToken@[{"Name":"Model","Value":"deepseek-r1-distill-llama-8b"},{"Name":"Target","Value":"default"}]',
    );
    expect(chat.join()).not.toContain('ModelLatency');
    const embed = endpoint('sluice-bge-large');
    expect(embed.some((w) => w.startsWith('ModelLatency@'))).toBe(true);
    expect(
      embed.some((w) => w.startsWith('Latency@[{"Name":"Model","Value":"bge-large-en"}]')),
    ).toBe(true);

    // The traffic shifter reads the same alarms before each step.
    const machine = JSON.stringify(
      Object.values(t.serving.findResources('AWS::StepFunctions::StateMachine'))[0],
    );
    const ttft = Object.keys(alarms).find((id) =>
      watched({ Ref: id }).startsWith('TimeToFirstToken@'),
    )!;
    expect(machine).toContain(`{"Ref":"${ttft}"}`);

    // The gateway's canary rolls back on the gateway's 5xx and latency alarms of every model.
    const group = Object.values(
      t.serving.findResources('AWS::CodeDeploy::DeploymentGroup'),
    )[0]!.Properties.AlarmConfiguration.Alarms.map((a: { Name: unknown }) => watched(a.Name));
    expect(group.filter((w: string) => w.startsWith('TimeToFirstToken@'))).toHaveLength(1);
    expect(group.filter((w: string) => w.startsWith('TimePerOutputToken@'))).toHaveLength(1);
    expect(group.filter((w: string) => w.startsWith('Errors5xx@'))).toHaveLength(2);
    expect(
      group.filter(
        (w: string) => w === 'Latency@[{"Name":"Model","Value":"deepseek-r1-distill-llama-8b"}]',
      ),
    ).toEqual([]);
  });

  it('draws SageMaker ModelLatency and the gateway’s TTFT/TPOT on the dashboard', () => {
    const body = JSON.stringify(
      Object.values(t.serving.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties
        .DashboardBody,
    );
    expect(body).toContain('ModelLatency');
    expect(body).toContain('sluice-deepseek-8b');
    expect(body).toContain('TimeToFirstToken');
    expect(body).toContain('TimePerOutputToken');
  });

  it('scales on GPU utilization per GPU: the step-scaling alarms divide by the GPU count', () => {
    const policies = Object.keys(
      t.serving.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', {
        Properties: { PolicyType: 'StepScaling' },
      }),
    );
    const scaling = alarmsOf().filter((a) =>
      policies.some((id) => JSON.stringify(a.AlarmActions) === JSON.stringify([{ Ref: id }])),
    );
    const expressions = scaling.map(
      (a) => (a.Metrics as { Expression?: string }[]).find((m) => m.Expression)?.Expression,
    );
    expect(new Set(expressions)).toEqual(new Set(['gpu_g5 / 1', 'gpu_p4d / 8']));
    for (const a of scaling) {
      expect(a.Metrics).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            MetricStat: expect.objectContaining({
              Metric: expect.objectContaining({
                Namespace: '/aws/sagemaker/Endpoints',
                MetricName: 'GPUUtilization',
              }),
            }),
          }),
        ]),
      );
    }
  });
});

describe('traffic shifting and the gateway', () => {
  it('shifts variant weights with SDK integrations only and reads the rollback alarms', () => {
    const machine = Object.values(
      t.serving.findResources('AWS::StepFunctions::StateMachine'),
    )[0] as {
      Properties: { DefinitionString: unknown; TracingConfiguration: unknown };
    };
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    expect(definition).toContain(':states:::aws-sdk:sagemaker:updateEndpointWeightsAndCapacities');
    expect(definition).toContain(':states:::aws-sdk:cloudwatch:describeAlarms');
    expect(definition).toContain('RestorePreviousWeights');
    expect(definition).not.toContain('lambda:invoke');
    expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('never grants sagemaker:InvokeEndpoint, kms:Decrypt or states:StartExecution on *', () => {
    for (const tpl of Object.values(t)) {
      for (const s of statements(tpl)) {
        const sensitive = actionsOf(s).some((a) =>
          [
            'sagemaker:InvokeEndpoint',
            'sagemaker:InvokeEndpointWithResponseStream',
            'kms:Decrypt',
            'states:StartExecution',
            'sagemaker:*',
            'kms:*',
          ].includes(a),
        );
        if (sensitive) expect(resourcesOf(s)).not.toContain('*');
      }
    }
    const invoke = statements(t.serving).find((s) =>
      actionsOf(s).includes('sagemaker:InvokeEndpoint'),
    )!;
    expect(JSON.stringify(invoke.Resource)).toContain(':endpoint/sluice-deepseek-8b');
  });

  it('lets the gateway describe exactly the endpoints and start exactly the traffic shifter', () => {
    const role = stacks.serving.getLogicalId(
      stacks.serving.gateway.function.role!.node.defaultChild as CfnElement,
    );
    const policies = t.serving.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: role }] },
    });
    const gateway = Object.values(policies).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
          .PolicyDocument.Statement,
    );
    const endpointArns = stacks.serving.endpoints.map((e) => stacks.serving.resolve(e.endpointArn));
    expect(endpointArns.map((a) => JSON.stringify(a))).toEqual([
      expect.stringContaining(':sagemaker:us-east-1:111111111111:endpoint/sluice-deepseek-8b"'),
      expect.stringContaining(':sagemaker:us-east-1:111111111111:endpoint/sluice-bge-large"'),
    ]);
    const describe = gateway.filter((s) => actionsOf(s).includes('sagemaker:DescribeEndpoint'));
    expect(describe).toHaveLength(1);
    expect(describe[0]!.Effect).toBe('Allow');
    expect(resourcesOf(describe[0]!)).toEqual(endpointArns);
    const start = gateway.filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start).toHaveLength(1);
    expect(resourcesOf(start[0]!)).toEqual([
      { Ref: onlyId(t.serving, 'AWS::StepFunctions::StateMachine') },
    ]);
  });

  it('puts the gateway subnets in the configured availability zones', () => {
    expect(new Set(subnetZones(t.serving))).toEqual(new Set(ZONES));
  });

  it('runs the gateway on a Managed Instances capacity provider scaling on CPU at 70%', () => {
    t.serving.hasResourceProperties('AWS::Lambda::CapacityProvider', {
      CapacityProviderScalingConfig: {
        ScalingMode: 'Manual',
        ScalingPolicies: [
          { PredefinedMetricType: 'LambdaCapacityProviderAverageCPUUtilization', TargetValue: 70 },
        ],
      },
    });
    t.serving.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      CapacityProviderConfig: {
        LambdaManagedInstancesCapacityProviderConfig: Match.objectLike({
          PerExecutionEnvironmentMaxConcurrency: 64,
        }),
      },
    });
  });

  it('passes the gateway a valid catalogue, the issuer, the client ids and the state machine', () => {
    const fns = t.serving.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { SLUICE_METRICS: 'emf' } } },
    });
    const env = (
      Object.values(fns)[0] as {
        Properties: { Environment: { Variables: Record<string, unknown> } };
      }
    ).Properties.Environment.Variables;
    const catalogue = gatewayConfigSchema.parse(JSON.parse(env.SLUICE_CONFIG_JSON as string));
    expect(catalogue.models.map((m) => [m.id, m.policy, m.format])).toEqual([
      ['deepseek-r1-distill-llama-8b', 'admit', 'openai'],
      ['bge-large-en', 'batch', 'tei'],
    ]);
    expect(env.SLUICE_AUTH_TOKEN_HEADER).toBe('x-sluice-authorization');
    for (const key of [
      'SLUICE_AUTH_ISSUER',
      'SLUICE_AUTH_JWKS_URL',
      'SLUICE_AUTH_CLIENT_IDS',
      'SLUICE_TRAFFIC_STATE_MACHINE_ARN',
    ]) {
      expect(env[key]).toBeDefined();
    }
  });

  it('shifts the alias live as a 5% canary with a pre-traffic hook and alarm rollback', () => {
    t.serving.hasResourceProperties('AWS::Lambda::Alias', { Name: 'live' });
    t.serving.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      InvokeMode: 'RESPONSE_STREAM',
      Qualifier: 'live',
    });
    t.serving.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', {
      ComputePlatform: 'Lambda',
      TrafficRoutingConfig: {
        Type: 'TimeBasedCanary',
        TimeBasedCanary: { CanaryPercentage: 5, CanaryInterval: 10 },
      },
    });
    t.serving.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AlarmConfiguration: { Enabled: true, Alarms: Match.arrayWith([{ Name: Match.anyValue() }]) },
      AutoRollbackConfiguration: {
        Enabled: true,
        Events: Match.arrayWith(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
      },
    });
    const alias = Object.values(t.serving.findResources('AWS::Lambda::Alias'))[0] as {
      UpdatePolicy: unknown;
    };
    expect(JSON.stringify(alias.UpdatePolicy)).toContain('BeforeAllowTrafficHook');
  });
});

describe('edge and identity', () => {
  it('serves a custom domain over TLS 1.3 only, HTTP/2 and HTTP/3, never caching /v1/*', () => {
    t.serving.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['api.sluice.example.com'],
        HttpVersion: 'http2and3',
        ViewerCertificate: Match.objectLike({
          MinimumProtocolVersion: 'TLSv1.3_2025',
          SslSupportMethod: 'sni-only',
        }),
        Logging: Match.objectLike({ Bucket: Match.anyValue() }),
        WebACLId: Match.anyValue(),
        CacheBehaviors: [
          Match.objectLike({
            PathPattern: '/v1/*',
            CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
          }),
        ],
      }),
    });
    t.serving.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({
        OriginAccessControlOriginType: 'lambda',
        SigningBehavior: 'always',
      }),
    });
  });

  it('hashes every POST body at the edge: origin-request Lambda@Edge with the body on both behaviors', () => {
    const association = [
      {
        EventType: 'origin-request',
        IncludeBody: true,
        LambdaFunctionARN: Match.anyValue(),
      },
    ];
    const bearer = [Match.objectLike({ EventType: 'viewer-request' })];
    t.serving.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({
          AllowedMethods: Match.arrayWith(['POST']),
          LambdaFunctionAssociations: association,
          FunctionAssociations: bearer,
        }),
        CacheBehaviors: [
          Match.objectLike({
            PathPattern: '/v1/*',
            AllowedMethods: Match.arrayWith(['POST']),
            LambdaFunctionAssociations: association,
            FunctionAssociations: bearer,
          }),
        ],
      }),
    });
    t.serving.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Architectures: ['x86_64'],
      Environment: Match.absent(),
      VpcConfig: Match.absent(),
    });
    t.serving.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'edgelambda.amazonaws.com' } }),
        ]),
      },
    });
  });

  it(
    'keeps the edge function in us-east-1 when the rest of the app is elsewhere, in the zones a recorded lookup lists',
    () => {
      // No availabilityZones: the zones come from a lookup recorded as cdk.context.json would.
      const elsewhere = new App({
        context: {
          'aws:cdk:bundling-stacks': [],
          'availability-zones:account=111111111111:region=eu-west-1': [
            'eu-west-1a',
            'eu-west-1b',
            'eu-west-1c',
          ],
        },
      });
      const built = buildSluiceApp(elsewhere, parseSluiceConfig({ region: 'eu-west-1' }), {
        nag: false,
      });
      const edge = Template.fromStack(built.edgeSecurity);
      edge.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs22.x' });
      edge.hasResourceProperties('AWS::SSM::Parameter', {
        Name: Match.stringLikeRegexp('^/cdk/EdgeFunctionArn/eu-west-1/'),
      });
      const serving = Template.fromStack(built.serving);
      expect(new Set(subnetZones(serving))).toEqual(
        new Set(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']),
      );
      serving.resourceCountIs('Custom::CrossRegionStringParameterReader', 1);
      serving.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: Match.objectLike({
          DefaultCacheBehavior: Match.objectLike({
            LambdaFunctionAssociations: [Match.objectLike({ EventType: 'origin-request' })],
          }),
        }),
      });
      expect(elsewhere.node.children.filter((c) => c instanceof Stack)).toHaveLength(4);
      for (const stack of Object.values(built)) {
        for (const pack of nagPacks(elsewhere)) {
          const errors = pack.validateScope(stack).violations.filter((v) => v.severity === 'error');
          expect(
            errors.map(
              (e) =>
                `${stack.stackName}: ${e.ruleName} ${e.violatingResources.map((r) => r.resourceLogicalId).join(',')}`,
            ),
          ).toEqual([]);
        }
      }
    },
    LONG,
  );

  it('waits 60 s for the gateway’s first byte and 120 s for a whole answer by default', () => {
    t.serving.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Origins: [
          Match.objectLike({
            CustomOriginConfig: Match.objectLike({ OriginReadTimeout: 60 }),
            ResponseCompletionTimeout: 120,
          }),
        ],
      }),
    });
  });

  it('rejects a response completion timeout shorter than the read timeout', () => {
    expect(() =>
      parseSluiceConfig({
        edge: { originReadTimeoutSeconds: 90, originResponseCompletionSeconds: 60 },
      }),
    ).toThrow(/originResponseCompletionSeconds/);
  });

  it('offers TLSv1.2_2025 for older clients and passes configured origin timeouts through', () => {
    const stack = new Stack(new App(), 'Tls12', {
      env: { account: '111111111111', region: 'us-east-1' },
    });
    const fn = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    });
    new EdgeDistribution(stack, 'Edge', {
      functionUrl: fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM }),
      domainNames: ['api.example.com'],
      certificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/abc',
      tlsPolicy: 'TLSv1.2_2025',
      webAclArn: 'arn:aws:wafv2:us-east-1:111111111111:global/webacl/x/1',
      logBucket: s3.Bucket.fromBucketName(stack, 'Logs', 'logs'),
      payloadHash: fn.currentVersion,
      originReadTimeout: Duration.seconds(90),
      originResponseCompletionTimeout: Duration.seconds(300),
    });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        ViewerCertificate: Match.objectLike({ MinimumProtocolVersion: 'TLSv1.2_2025' }),
        Origins: [
          Match.objectLike({
            CustomOriginConfig: Match.objectLike({ OriginReadTimeout: 90 }),
            ResponseCompletionTimeout: 300,
          }),
        ],
      }),
    });
  });

  it('protects the edge with the AWS common rule set and a rate limit keyed on Authorization, logging to S3', () => {
    t.edgeSecurity.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      Rules: Match.arrayWith([
        Match.objectLike({
          Statement: {
            ManagedRuleGroupStatement: Match.objectLike({
              VendorName: 'AWS',
              Name: 'AWSManagedRulesCommonRuleSet',
            }),
          },
        }),
        Match.objectLike({
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: Match.objectLike({
              Limit: 2000,
              AggregateKeyType: 'CUSTOM_KEYS',
              CustomKeys: [
                {
                  Header: {
                    Name: 'authorization',
                    TextTransformations: [{ Priority: 0, Type: 'NONE' }],
                  },
                },
              ],
            }),
          },
        }),
      ]),
    });
    t.edgeSecurity.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
      LogDestinationConfigs: [Match.anyValue()],
    });
  });

  it('requires MFA, enforces threat protection and issues 2-hour access tokens', () => {
    t.identity.hasResourceProperties('AWS::Cognito::UserPool', {
      MfaConfiguration: 'ON',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
    });
    for (const group of ['Admin', 'Operator', 'Viewer']) {
      t.identity.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: group });
    }
    t.identity.hasResourceProperties('AWS::Cognito::UserPoolResourceServer', {
      Identifier: 'inference',
      Scopes: Match.arrayWith([Match.objectLike({ ScopeName: 'invoke' })]),
    });
    t.identity.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      AllowedOAuthFlows: ['code'],
      GenerateSecret: false,
      AccessTokenValidity: 120,
      TokenValidityUnits: Match.objectLike({ AccessToken: 'minutes' }),
    });
    t.identity.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      AllowedOAuthFlows: ['client_credentials'],
      GenerateSecret: true,
      AccessTokenValidity: 120,
    });
  });

  it('lets the client-credentials client request only the invoke and read scopes', () => {
    const clients = t.identity.findResources('AWS::Cognito::UserPoolClient', {
      Properties: { AllowedOAuthFlows: ['client_credentials'] },
    });
    const scopes = Object.values(clients).flatMap((c) =>
      (c.Properties.AllowedOAuthScopes as unknown[]).map((s) => JSON.stringify(s)),
    );
    expect(scopes.some((s) => s.includes('/invoke'))).toBe(true);
    expect(scopes.some((s) => s.includes('/read'))).toBe(true);
    expect(scopes.some((s) => s.includes('/admin') || s.includes('/operate'))).toBe(false);
  });
});

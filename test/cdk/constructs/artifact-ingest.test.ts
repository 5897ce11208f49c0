import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { ArtifactIngest } from '../../../cdk/constructs/artifact-ingest.js';
import { ArtifactStore } from '../../../cdk/constructs/artifact-store.js';
import { nagPacks } from '../../../cdk/stacks/nag.js';
import { FEATURE_FLAGS } from '../../../cdk/stacks/sluice-app.js';

const config = parseSluiceConfig({});
let app: App;
let stack: Stack;
let t: Template;
let ingest: ArtifactIngest;

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
const statements = (): Statement[] =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement,
  );
const withAction = (action: string) =>
  statements().filter((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]).includes(action));

beforeAll(() => {
  app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  stack = new Stack(app, 'Data', { env: { account: '111111111111', region: 'us-east-1' } });
  const store = new ArtifactStore(stack, 'Store', config.artifacts);
  const topic = new sns.Topic(stack, 'Topic', { masterKey: store.key, enforceSSL: true });
  ingest = new ArtifactIngest(stack, 'Ingest', {
    artifacts: store.artifacts,
    key: store.key,
    models: config.models,
    topic,
  });
  t = Template.fromStack(stack);
}, 120_000);

describe('ArtifactIngest', () => {
  it('invokes the function for manifests uploaded under incoming/', () => {
    t.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          Match.objectLike({
            Events: ['s3:ObjectCreated:*'],
            Filter: {
              Key: {
                FilterRules: Match.arrayWith([
                  { Name: 'suffix', Value: '/manifest.json' },
                  { Name: 'prefix', Value: 'incoming/' },
                ]),
              },
            },
          }),
        ],
      },
    });
  });

  it('tells the function the bucket, the key, the role to pass and each model', () => {
    const fn = Object.values(t.findResources('AWS::Lambda::Function')).find((f) =>
      JSON.stringify(f).includes('SLUICE_INGEST_CONFIG'),
    ) as { Properties: { Environment: { Variables: { SLUICE_INGEST_CONFIG: unknown } } } };
    const raw = JSON.stringify(stack.resolve(fn.Properties.Environment.Variables));
    for (const m of config.models) expect(raw).toContain(m.id);
    expect(raw).toContain('"rollout\\":\\"registered');
    t.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      Architectures: ['arm64'],
      Environment: { Variables: { SLUICE_INGEST_CONFIG: Match.anyValue() } },
    });
  });

  it('grants S3 access only on the prefixes of configured models', () => {
    const slugs = config.models.map((m) => m.id.replace(/[^A-Za-z0-9._-]/g, '-'));
    const resources = JSON.stringify(
      stack.resolve(withAction('s3:GetObject').map((s) => s.Resource)),
    );
    for (const top of ['incoming', 'models', 'provenance']) {
      for (const slug of slugs) expect(resources).toContain(`/${top}/${slug}/*`);
    }
    const writes = JSON.stringify(withAction('s3:PutObject').map((s) => s.Resource));
    expect(writes).not.toContain('/incoming/');
    expect(writes).not.toMatch(/"\/\*"/);
  });

  it('lets the function use the key only through S3 for this bucket', () => {
    const kms = withAction('kms:GenerateDataKey');
    expect(kms).toHaveLength(1);
    expect(stack.resolve(kms[0]!.Condition)).toEqual({
      StringEquals: {
        'kms:ViaService': 's3.us-east-1.amazonaws.com',
        'kms:EncryptionContext:aws:s3:arn': expect.anything(),
      },
    });
  });

  it('passes only the ingested-model role, and only to SageMaker', () => {
    const pass = withAction('iam:PassRole');
    expect(pass).toHaveLength(1);
    expect(stack.resolve(pass[0]!.Resource)).toEqual(stack.resolve(ingest.modelRole.roleArn));
    expect(pass[0]!.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });
  });

  it('alarms on any rejection to the alarm topic', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Sluice/Artifacts',
      MetricName: 'Rejected',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('Topic') }],
    });
  });

  it('has no unacknowledged cdk-nag error', () => {
    for (const pack of nagPacks(app)) {
      const errors = pack.validateScope(stack).violations.filter((v) => v.severity === 'error');
      expect(
        errors.map((e) => `${e.ruleName} ${JSON.stringify(e.violatingResources ?? '')}`),
      ).toEqual([]);
    }
  });
});

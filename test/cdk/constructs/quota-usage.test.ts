import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { QuotaTable } from '../../../cdk/constructs/quota-table.js';
import { USAGE_COLUMNS, UsageStream } from '../../../cdk/constructs/usage-stream.js';
import { nagPacks } from '../../../cdk/stacks/nag.js';
import { FEATURE_FLAGS } from '../../../cdk/stacks/sluice-app.js';
import type { UsageRecord } from '../../../edge/usage/record.js';

let app: App;
let stack: Stack;
let t: Template;
let quotas: QuotaTable;
let usage: UsageStream;
let role: iam.Role;

beforeAll(() => {
  app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  stack = new Stack(app, 'Usage', { env: { account: '111111111111', region: 'eu-west-1' } });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  role = new iam.Role(stack, 'GatewayRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  quotas = new QuotaTable(stack, 'Quotas', { key });
  quotas.grantGateway(role);
  usage = new UsageStream(stack, 'Usage', { key });
  usage.grantPut(role);
  t = Template.fromStack(stack);
});

/** The statements of the gateway role's policies. */
const statements = (): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] =>
  Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      (p.Properties.Roles as { Ref: string }[]).some(
        (r) => r.Ref === stack.getLogicalId(role.node.defaultChild as iam.CfnRole),
      ),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement);

describe('QuotaTable', () => {
  it('is on-demand, encrypted with the customer key, with PITR and a TTL on expiresAt', () => {
    t.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { KMSMasterKeyId: Match.anyValue() },
        }),
      ],
    });
    t.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
  });

  it('grants the gateway exactly UpdateItem, GetItem and Query on the table ARN', () => {
    const dynamo = statements().filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    expect(dynamo).toHaveLength(1);
    expect([dynamo[0]!.Action].flat().sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect([stack.resolve(dynamo[0]!.Resource)].flat()).toEqual([
      stack.resolve(quotas.table.tableArn),
    ]);
    expect(JSON.stringify(dynamo[0]!.Resource)).not.toContain('*');
  });

  it('lets the gateway use the key only through DynamoDB in the stack region', () => {
    const key = statements().find((s) => JSON.stringify(s.Action).includes('kms:Decrypt'));
    expect(key?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' },
    });
  });
});

describe('UsageStream', () => {
  it('delivers GZIP JSON under usage/dt=… in the bucket, with the customer key', () => {
    t.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'DirectPut',
      DeliveryStreamEncryptionConfigurationInput: { KeyType: 'CUSTOMER_MANAGED_CMK' },
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: 'usage/dt=!{timestamp:yyyy-MM-dd}/',
        CompressionFormat: 'GZIP',
        EncryptionConfiguration: { KMSEncryptionConfig: Match.anyValue() },
      }),
    });
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
          }),
        ],
      },
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true }),
    });
  });

  it('catalogues the prefix as a JSON Glue table with date partition projection', () => {
    t.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: 'sluice_usage',
      TableInput: Match.objectLike({
        Name: 'records',
        PartitionKeys: [{ Name: 'dt', Type: 'string' }],
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
        }),
        StorageDescriptor: Match.objectLike({
          SerdeInfo: Match.objectLike({
            SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
          }),
        }),
      }),
    });
  });

  it('has a column for every field of a usage record', () => {
    const fields: (keyof UsageRecord)[] = [
      'type',
      'time',
      'start_time',
      'request_id',
      'tenant',
      'principal',
      'principal_class',
      'model',
      'target',
      'kind',
      'stream',
      'status',
      'outcome',
      'error_code',
      'prompt_tokens',
      'completion_tokens',
      'reasoning_tokens',
      'usage_reported',
      'estimated_tokens',
      'charged_tokens',
      'latency_ms',
    ];
    const columns = USAGE_COLUMNS.map((c) => c.name);
    for (const f of fields) expect(columns).toContain(f);
  });

  it('grants the gateway only PutRecordBatch on the stream', () => {
    const put = statements().filter((s) => JSON.stringify(s.Action).includes('firehose:'));
    expect(put).toHaveLength(1);
    expect(put[0]!.Action).toBe('firehose:PutRecordBatch');
    expect(stack.resolve(put[0]!.Resource)).toEqual(
      stack.resolve(usage.deliveryStream.deliveryStreamArn),
    );
  });

  it('refuses a prefix Athena and the lifecycle rule cannot use, naming it', () => {
    const s = new Stack(new App(), 'Bad');
    const key = new kms.Key(s, 'Key');
    expect(() => new UsageStream(s, 'U', { key, prefix: 'Usage' })).toThrow(/prefix 'Usage'/);
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

import { Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { LogDeliveryBucket } from './log-delivery-bucket.js';
import { acknowledgeWildcardResources } from './nag-acknowledge.js';

export interface UsageStreamProps {
  /** Customer key for the stream, the bucket and the delivered objects. */
  readonly key: kms.IKey;
  /** Bucket receiving the records. @default a new SSE-KMS bucket */
  readonly bucket?: s3.IBucket;
  /** Prefix the records are delivered under. @default 'usage/' */
  readonly prefix?: string;
  /** Days before delivered records move to Standard-IA. @default 30 */
  readonly warmAfterDays?: number;
  /** Glue database name. @default 'sluice_usage' */
  readonly databaseName?: string;
}

/** The Glue table's columns: the fields of `UsageRecord` and `AuditStreamRecord`. */
export const USAGE_COLUMNS: readonly glue.CfnTable.ColumnProperty[] = [
  { name: 'type', type: 'string', comment: 'usage or audit' },
  { name: 'time', type: 'string', comment: 'end of the request, ISO 8601 UTC' },
  { name: 'start_time', type: 'string' },
  { name: 'request_id', type: 'string' },
  { name: 'tenant', type: 'string' },
  { name: 'principal', type: 'string' },
  { name: 'principal_class', type: 'string', comment: 'app client id' },
  { name: 'model', type: 'string' },
  { name: 'target', type: 'string' },
  { name: 'kind', type: 'string' },
  { name: 'stream', type: 'boolean' },
  { name: 'status', type: 'int' },
  { name: 'outcome', type: 'string' },
  { name: 'error_code', type: 'string' },
  { name: 'prompt_tokens', type: 'bigint' },
  { name: 'completion_tokens', type: 'bigint' },
  { name: 'reasoning_tokens', type: 'bigint' },
  { name: 'usage_reported', type: 'boolean' },
  { name: 'estimated_tokens', type: 'bigint' },
  { name: 'charged_tokens', type: 'bigint' },
  { name: 'latency_ms', type: 'bigint' },
  { name: 'action', type: 'string', comment: 'audit records: the admin action' },
  { name: 'audit', type: 'string', comment: 'audit records: the whole change, JSON' },
];

/**
 * Usage and audit records for chargeback: a Firehose stream (direct PUT, encrypted with the
 * customer key) delivering newline-delimited JSON, GZIP-compressed, to `<prefix>dt=YYYY-MM-DD/`
 * in an SSE-KMS bucket, and a Glue table over that prefix (JSON SerDe, partition projection on
 * `dt`) that Athena queries without crawlers or `MSCK REPAIR`.
 */
export class UsageStream extends Construct {
  public readonly deliveryStream: firehose.DeliveryStream;
  public readonly bucket: s3.IBucket;
  public readonly prefix: string;
  public readonly databaseName: string;
  public readonly tableName = 'records';

  constructor(scope: Construct, id: string, props: UsageStreamProps) {
    super(scope, id);
    const prefix = props.prefix ?? 'usage/';
    if (!/^[a-z0-9][a-z0-9_/-]*\/$/.test(prefix)) {
      throw new Error(
        `UsageStream prefix '${prefix}' must be lower-case letters, digits, _ - / and end in /.`,
      );
    }
    this.prefix = prefix;
    this.databaseName = props.databaseName ?? 'sluice_usage';
    this.bucket =
      props.bucket ??
      new s3.Bucket(this, 'Bucket', {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: props.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        removalPolicy: RemovalPolicy.RETAIN,
        serverAccessLogsBucket: new LogDeliveryBucket(this, 'AccessLogs').bucket,
        serverAccessLogsPrefix: 'usage-bucket/',
        lifecycleRules: [
          {
            prefix,
            transitions: [
              {
                storageClass: s3.StorageClass.INFREQUENT_ACCESS,
                transitionAfter: Duration.days(props.warmAfterDays ?? 30),
              },
            ],
          },
        ],
      });

    this.deliveryStream = new firehose.DeliveryStream(this, 'Stream', {
      encryption: firehose.StreamEncryption.customerManagedKey(props.key),
      destination: new firehose.S3Bucket(this.bucket, {
        dataOutputPrefix: `${prefix}dt=!{timestamp:yyyy-MM-dd}/`,
        errorOutputPrefix: `${prefix}errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`,
        bufferingInterval: Duration.seconds(60),
        bufferingSize: Size.mebibytes(64),
        compression: firehose.Compression.GZIP,
        encryptionKey: props.key,
        loggingConfig: new firehose.EnableLogging(
          new logs.LogGroup(this, 'DeliveryErrors', {
            encryptionKey: props.key,
            retention: logs.RetentionDays.ONE_MONTH,
          }),
        ),
      }),
    });

    // The roles CDK's Firehose destination makes: its bucket and key grants are scoped to this
    // bucket and this key, with the wildcard actions and object paths S3 delivery needs.
    for (const role of ['Service Role', 'S3 Destination Role']) {
      const policy = this.deliveryStream.node
        .tryFindChild(role)
        ?.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      for (const action of [
        'kms:GenerateDataKey*',
        'kms:ReEncrypt*',
        's3:GetObject*',
        's3:GetBucket*',
        's3:List*',
        's3:DeleteObject*',
        's3:Abort*',
      ]) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason:
            'Firehose delivery to S3 (CDK S3Bucket destination): the action family is granted on this bucket and this key only.',
        });
      }
      acknowledgeWildcardResources(
        policy,
        [`${this.bucket.bucketArn}/*`],
        'Firehose writes objects anywhere under its own bucket (dated prefixes it names at delivery).',
      );
    }

    const account = Stack.of(this).account;
    const database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: { name: this.databaseName, description: 'Sluice usage and audit records' },
    });
    const location = `s3://${this.bucket.bucketName}/${prefix}`;
    const table = new glue.CfnTable(this, 'Table', {
      catalogId: account,
      databaseName: this.databaseName,
      tableInput: {
        name: this.tableName,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': '2025-01-01,NOW',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': `${location}dt=\${dt}/`,
        },
        partitionKeys: [{ name: 'dt', type: 'string' }],
        storageDescriptor: {
          location,
          columns: [...USAGE_COLUMNS],
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'ignore.malformed.json': 'true' },
          },
        },
      },
    });
    table.addDependency(database);
  }

  /** Lets the gateway put records: `firehose:PutRecordBatch` on this stream only. */
  grantPut(grantee: iam.IGrantable): void {
    this.deliveryStream.grant(grantee, 'firehose:PutRecordBatch');
  }
}

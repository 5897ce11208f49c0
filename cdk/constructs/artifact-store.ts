import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { modelPrefix as versionPrefix } from '../../functions/artifact-ingest/paths.js';
import { LogDeliveryBucket } from './log-delivery-bucket.js';

export interface ArtifactStoreProps {
  /** Days before noncurrent artifact versions move to Standard-IA (warm). @default 30 */
  readonly warmAfterDays?: number;
  /** Days before noncurrent artifact versions move to Glacier Flexible Retrieval (cold). @default 90 */
  readonly coldAfterDays?: number;
  /** Days before noncurrent artifact versions are deleted. @default 730 */
  readonly expireAfterDays?: number;
  /** Days after upload before objects under `archive/` move to Glacier Deep Archive. @default 30 */
  readonly archiveAfterDays?: number;
  /** Alias of the customer key. @default 'alias/sluice' */
  readonly keyAlias?: string;
}

/**
 * The customer-managed KMS key and the model artifact bucket with its storage tiers.
 *
 * - hot: current objects stay in S3 Standard; endpoints load them from `models/<id>/<version>/`;
 * - warm: noncurrent versions move to Standard-IA after `warmAfterDays`;
 * - cold: objects under `archive/` move to Deep Archive after `archiveAfterDays`, and old
 *   noncurrent versions to Glacier Flexible Retrieval after `coldAfterDays`.
 */
export class ArtifactStore extends Construct {
  /** Customer key (rotation on) for buckets, log groups, topics and model volumes. */
  public readonly key: kms.Key;
  /** Versioned, SSE-KMS artifact bucket. */
  public readonly artifacts: s3.Bucket;
  /** SSE-S3 bucket receiving the artifact bucket's server access logs. */
  public readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArtifactStoreProps = {}) {
    super(scope, id);
    const warm = props.warmAfterDays ?? 30;
    const cold = props.coldAfterDays ?? 90;
    const expire = props.expireAfterDays ?? 730;
    const archive = props.archiveAfterDays ?? 30;
    if (!Number.isInteger(archive) || archive < 0) {
      throw new Error('ArtifactStore: archiveAfterDays must be a whole number of days, 0 or more');
    }
    if (warm < 30 || cold < warm + 30 || expire <= cold) {
      throw new Error(
        'ArtifactStore: need warmAfterDays >= 30, coldAfterDays >= warm + 30, expireAfterDays > cold',
      );
    }
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      description: 'Sluice: model artifacts, logs, alarm topic and SageMaker volumes',
      enableKeyRotation: true,
      alias: props.keyAlias ?? 'alias/sluice',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts log groups of this account and region only.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsOfThisAccount',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: [
          'kms:Encrypt*',
          'kms:Decrypt*',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
          'kms:Describe*',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    // CloudWatch alarms publish to the encrypted alarm topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    this.accessLogs = new LogDeliveryBucket(this, 'AccessLogs', {
      warmAfterDays: warm,
      coldAfterDays: cold,
      expireAfterDays: expire,
    }).bucket;

    this.artifacts = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'warm-then-cold-noncurrent',
          noncurrentVersionTransitions: [
            {
              storageClass: s3.StorageClass.INFREQUENT_ACCESS,
              transitionAfter: Duration.days(warm),
            },
            { storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(cold) },
          ],
          noncurrentVersionExpiration: Duration.days(expire),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        {
          id: 'cold-archive',
          prefix: 'archive/',
          transitions: [
            {
              storageClass: s3.StorageClass.DEEP_ARCHIVE,
              transitionAfter: Duration.days(archive),
            },
          ],
        },
      ],
    });
  }

  /** The S3 prefix of one model version in the hot tier. */
  static modelPrefix(modelId: string, version: string): string {
    return versionPrefix(modelId, version);
  }
}

import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface LogDeliveryBucketProps {
  /**
   * Physical name. Only for destinations that demand one (AWS WAF delivers only to buckets whose
   * name starts with `aws-waf-logs-`).
   * @default a generated name
   */
  readonly bucketName?: string;
  /**
   * Let CloudFront standard logging write through ACLs (it needs the bucket's ACLs enabled).
   * @default false
   */
  readonly allowCloudFrontLogs?: boolean;
  /** Days before logs move to Standard-IA (warm). @default 30 */
  readonly warmAfterDays?: number;
  /** Days before logs move to Glacier Flexible Retrieval (cold). @default 90 */
  readonly coldAfterDays?: number;
  /** Days before logs are deleted. @default 730 */
  readonly expireAfterDays?: number;
}

/**
 * A bucket that receives logs from AWS services: S3 server access logs, CloudFront standard
 * logs, AWS WAF logs.
 *
 * It is encrypted with SSE-S3, not the customer key: S3 server access logging and CloudFront
 * standard logging cannot deliver to a bucket whose default encryption is SSE-KMS. Everything
 * else about it matches the other buckets: public access blocked, TLS-only policy, versioning,
 * and the hot → warm → cold lifecycle.
 */
export class LogDeliveryBucket extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: LogDeliveryBucketProps = {}) {
    super(scope, id);
    const warm = props.warmAfterDays ?? 30;
    const cold = props.coldAfterDays ?? 90;
    const expire = props.expireAfterDays ?? 730;
    if (!(warm < cold && cold < expire)) {
      throw new Error(
        'LogDeliveryBucket: warmAfterDays < coldAfterDays < expireAfterDays must hold',
      );
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      // SSE-S3 on purpose: log delivery by S3 and CloudFront does not support SSE-KMS targets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: props.allowCloudFrontLogs
        ? s3.ObjectOwnership.BUCKET_OWNER_PREFERRED
        : s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'tiers',
          transitions: [
            {
              storageClass: s3.StorageClass.INFREQUENT_ACCESS,
              transitionAfter: Duration.days(warm),
            },
            { storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(cold) },
          ],
          noncurrentVersionTransitions: [
            {
              storageClass: s3.StorageClass.GLACIER,
              transitionAfter: Duration.days(warm),
            },
          ],
          expiration: Duration.days(expire),
          noncurrentVersionExpiration: Duration.days(cold),
        },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is itself the log destination; logging it into another bucket would only move the question one level down.',
    });
  }
}

import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { LogDeliveryBucket } from './log-delivery-bucket.js';

/**
 * The body rules of the AWS managed common rule set (core rule set) and the labels they add, from
 * AWS's "Baseline rule groups" page
 * (https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html).
 * Prompts routinely hold code, HTML, file paths and URLs, and exceed 8 KB: on the inference API
 * these rules would block ordinary requests, so there they only count.
 */
export const COMMON_RULE_SET_BODY_RULES = {
  SizeRestrictions_BODY: 'awswaf:managed:aws:core-rule-set:SizeRestrictions_Body',
  EC2MetaDataSSRF_BODY: 'awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body',
  GenericLFI_BODY: 'awswaf:managed:aws:core-rule-set:GenericLFI_Body',
  GenericRFI_BODY: 'awswaf:managed:aws:core-rule-set:GenericRFI_Body',
  CrossSiteScripting_BODY: 'awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body',
} as const;

/** The inference API's path prefix, whose request bodies are prompts. */
export const INFERENCE_API_PREFIX = '/v1/';

/**
 * Requests to the inference API. The path is URL-decoded and normalized first, so a request the
 * gateway's router would resolve elsewhere (`/v1/../admin/…`, `/v1/%2e%2e/admin/…`) does not
 * count as one.
 */
const inferenceApiPath: wafv2.CfnWebACL.StatementProperty = {
  byteMatchStatement: {
    fieldToMatch: { uriPath: {} },
    positionalConstraint: 'STARTS_WITH',
    searchString: INFERENCE_API_PREFIX,
    textTransformations: [
      { priority: 0, type: 'URL_DECODE' },
      { priority: 1, type: 'NORMALIZE_PATH' },
    ],
  },
};

export interface EdgeSecurityProps {
  /** Requests per 5 minutes per `Authorization` value before WAF blocks (the fleet-wide limit). */
  readonly rateLimitPer5Min: number;
  /** Requests per 5 minutes per client IP (catches traffic without a token). @default 5 × rateLimitPer5Min */
  readonly ipRateLimitPer5Min?: number;
}

/**
 * AWS WAF for the CloudFront distribution (scope CLOUDFRONT, so its stack lives in us-east-1):
 * the AWS managed common rule set, with its body rules counted on the inference API (`/v1/…`,
 * whose bodies are prompts) and blocking everywhere else; rate-based rules keyed on the
 * `Authorization` header and on the client IP; WAF logs (and CloudFront standard logs) going to
 * one SSE-S3 log bucket.
 */
export class EdgeSecurity extends Construct {
  public readonly webAcl: wafv2.CfnWebACL;
  public readonly logBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: EdgeSecurityProps) {
    super(scope, id);
    if (props.rateLimitPer5Min < 10)
      throw new Error('EdgeSecurity: rateLimitPer5Min must be at least 10');
    const stack = Stack.of(this);
    if (!Token.isUnresolved(stack.region) && stack.region !== 'us-east-1') {
      throw new Error('EdgeSecurity: a CLOUDFRONT web ACL must be created in us-east-1');
    }

    // WAF delivers only to buckets named aws-waf-logs-*; that is the one physical name we set.
    this.logBucket = new LogDeliveryBucket(this, 'Logs', {
      bucketName: `aws-waf-logs-sluice-${stack.account}-${stack.region}`,
      allowCloudFrontLogs: true,
    }).bucket;
    this.logBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WafLogDelivery',
        principals: [new iam.ServicePrincipal('delivery.logs.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [this.logBucket.arnForObjects(`AWSLogs/${stack.account}/*`)],
        conditions: {
          StringEquals: {
            's3:x-amz-acl': 'bucket-owner-full-control',
            'aws:SourceAccount': stack.account,
          },
        },
      }),
    );
    this.logBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WafLogDeliveryAclCheck',
        principals: [new iam.ServicePrincipal('delivery.logs.amazonaws.com')],
        actions: ['s3:GetBucketAcl'],
        resources: [this.logBucket.bucketArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    const visibility = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName: name,
      sampledRequestsEnabled: true,
    });
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('sluice-edge'),
      rules: [
        {
          name: 'aws-common',
          priority: 0,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: 'AWSManagedRulesCommonRuleSet',
              // The body rules only count (and label) here; the next rule blocks on their labels
              // everywhere but /v1/. Every other rule of the set blocks on every path.
              ruleActionOverrides: Object.keys(COMMON_RULE_SET_BODY_RULES).map((name) => ({
                name,
                actionToUse: { count: {} },
              })),
            },
          },
          visibilityConfig: visibility('sluice-aws-common'),
        },
        {
          name: 'aws-common-body-outside-v1',
          priority: 1,
          action: { block: {} },
          statement: {
            andStatement: {
              statements: [
                {
                  orStatement: {
                    statements: Object.values(COMMON_RULE_SET_BODY_RULES).map((key) => ({
                      labelMatchStatement: { scope: 'LABEL', key },
                    })),
                  },
                },
                { notStatement: { statement: inferenceApiPath } },
              ],
            },
          },
          visibilityConfig: visibility('sluice-aws-common-body-outside-v1'),
        },
        {
          name: 'rate-per-token',
          priority: 2,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: props.rateLimitPer5Min,
              evaluationWindowSec: 300,
              aggregateKeyType: 'CUSTOM_KEYS',
              customKeys: [
                {
                  header: {
                    name: 'authorization',
                    textTransformations: [{ priority: 0, type: 'NONE' }],
                  },
                },
              ],
            },
          },
          visibilityConfig: visibility('sluice-rate-per-token'),
        },
        {
          name: 'rate-per-ip',
          priority: 3,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: props.ipRateLimitPer5Min ?? props.rateLimitPer5Min * 5,
              evaluationWindowSec: 300,
              aggregateKeyType: 'IP',
            },
          },
          visibilityConfig: visibility('sluice-rate-per-ip'),
        },
      ],
    });

    const logging = new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: this.webAcl.attrArn,
      logDestinationConfigs: [this.logBucket.bucketArn],
      redactedFields: [{ singleHeader: { Name: 'authorization' } }],
    });
    logging.node.addDependency(this.logBucket);
  }
}

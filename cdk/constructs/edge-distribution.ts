import { Duration, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** The header the viewer's bearer token travels in to the gateway (see the class comment). */
export const FORWARDED_AUTH_HEADER = 'x-sluice-authorization';

/** The gateway's internal ALB, reached as a CloudFront VPC origin over HTTPS. */
export interface LoadBalancerOriginProps {
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** The name the ALB's certificate covers; CloudFront checks the certificate against it. */
  readonly domainName: string;
}

export interface EdgeDistributionProps {
  /**
   * The gateway's function URL (IAM auth) on the alias `live`. Give this (with `payloadHash`)
   * or `loadBalancer`.
   */
  readonly functionUrl?: lambda.IFunctionUrl;
  /** The gateway's ALB (the Fargate runtime): a VPC origin, HTTPS only, no OAC. */
  readonly loadBalancer?: LoadBalancerOriginProps;
  readonly domainNames: readonly string[];
  /** ACM certificate in us-east-1 for `domainNames`. */
  readonly certificateArn: string;
  /** @default 'TLSv1.3_2025' */
  readonly tlsPolicy?: 'TLSv1.3_2025' | 'TLSv1.2_2025';
  /** ARN of the CLOUDFRONT-scope web ACL. */
  readonly webAclArn: string;
  /** Bucket for CloudFront standard logs (SSE-S3, ACLs enabled). */
  readonly logBucket: s3.IBucket;
  /**
   * Version of the Lambda@Edge function that sets `x-amz-content-sha256` from the body
   * ({@link EdgePayloadHash}); associated as origin-request with the body included. Required
   * with `functionUrl` (OAC signs the body), unused with `loadBalancer`.
   */
  readonly payloadHash?: lambda.IVersion;
  /**
   * How long CloudFront waits for the first byte (and between bytes) from the gateway. Above 60 s,
   * check the account's CloudFront "response timeout per origin" quota (see docs/deploy.md).
   * @default Duration.seconds(60)
   */
  readonly originReadTimeout?: Duration;
  /**
   * The longest a whole response from the gateway may take; at least `originReadTimeout`.
   * @default Duration.seconds(120)
   */
  readonly originResponseCompletionTimeout?: Duration;
}

/**
 * CloudFront on the custom domain in front of the gateway: its internal ALB as a VPC origin
 * (HTTPS, the Fargate runtime), or, as follows, its function URL with origin access
 * control (SigV4) so the URL answers CloudFront only, TLS 1.3 only by default, HTTP/2 and
 * HTTP/3, no caching anywhere (every `/v1/*` answer is per caller).
 *
 * OAC signs each origin request with SigV4 in the `Authorization` header, which replaces the
 * viewer's `Authorization: Bearer …`. A viewer-request CloudFront Function therefore copies the
 * bearer token into `x-sluice-authorization` first; the gateway reads the token from there when
 * present. (WAF evaluates the original `Authorization` header before the function runs.)
 *
 * OAC also needs the SHA-256 of a POST body in `x-amz-content-sha256` (Lambda does not accept
 * unsigned payloads), which OpenAI clients do not send: an origin-request Lambda@Edge function
 * with the body included computes it on every behavior. Both behaviors allow POST, and the
 * default one also carries `/admin/*`, `/healthz` and `/metrics`, so each gets the function.
 * CloudFront exposes at most 1 MB of body to it; a longer body is answered with 413 at the edge.
 */
export class EdgeDistribution extends Construct {
  public readonly distribution: cloudfront.Distribution;

  constructor(scope: Construct, id: string, props: EdgeDistributionProps) {
    super(scope, id);
    if (props.domainNames.length === 0)
      throw new Error('EdgeDistribution: at least one domain name');
    if (!props.functionUrl === !props.loadBalancer) {
      throw new Error('EdgeDistribution: give functionUrl or loadBalancer, not both');
    }
    if (props.functionUrl && !props.payloadHash) {
      throw new Error('EdgeDistribution: a functionUrl origin needs payloadHash');
    }

    const moveToken = new cloudfront.Function(this, 'ForwardBearer', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'Carry the bearer token past the SigV4 Authorization header of OAC',
      code: cloudfront.FunctionCode.fromInline(
        [
          'function handler(event) {',
          '  var h = event.request.headers;',
          `  delete h['${FORWARDED_AUTH_HEADER}'];`,
          `  if (h.authorization) { h['${FORWARDED_AUTH_HEADER}'] = { value: h.authorization.value }; }`,
          '  return event.request;',
          '}',
        ].join('\n'),
      ),
    });

    // CloudFront's 30 s default would cut off answers the gateway may still deliver: its
    // upstream timeout is 60 s, after up to 30 s in the admission queue.
    const readTimeout = props.originReadTimeout ?? Duration.seconds(60);
    const responseCompletionTimeout =
      props.originResponseCompletionTimeout ?? Duration.seconds(120);
    if (responseCompletionTimeout.toSeconds() < readTimeout.toSeconds()) {
      throw new Error('EdgeDistribution: originResponseCompletionTimeout below originReadTimeout');
    }
    // The ALB is internal: CloudFront reaches it through a VPC origin, over TLS 1.2, checking
    // the ALB's certificate against domainName. No OAC and so no body hash.
    const origin = props.loadBalancer
      ? origins.VpcOrigin.withApplicationLoadBalancer(props.loadBalancer.loadBalancer, {
          domainName: props.loadBalancer.domainName,
          protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          httpsPort: 443,
          readTimeout,
          responseCompletionTimeout,
        })
      : origins.FunctionUrlOrigin.withOriginAccessControl(props.functionUrl!, {
          readTimeout,
          responseCompletionTimeout,
        });
    const behavior: cloudfront.BehaviorOptions = {
      origin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      compress: false,
      functionAssociations: [
        { function: moveToken, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
      ],
      ...(props.functionUrl
        ? {
            edgeLambdas: [
              {
                functionVersion: props.payloadHash!,
                eventType: cloudfront.LambdaEdgeEventType.ORIGIN_REQUEST,
                includeBody: true,
              },
            ],
          }
        : {}),
    };

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Sluice gateway',
      domainNames: [...props.domainNames],
      certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn),
      minimumProtocolVersion:
        props.tlsPolicy === 'TLSv1.2_2025'
          ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2025
          : cloudfront.SecurityPolicyProtocol.TLS_V1_3_2025,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      webAclId: props.webAclArn,
      enableLogging: true,
      logBucket: props.logBucket,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: behavior,
      additionalBehaviors: { '/v1/*': behavior },
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'The API serves clients worldwide; geo restriction is a per-deployment policy, not a default.',
    });
  }
}

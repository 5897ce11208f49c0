import { Duration, IgnoreMode, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import {
  FARGATE_MAX_STOP_SECONDS as MAX_STOP_TIMEOUT_SECONDS,
  FARGATE_STOP_MARGIN_SECONDS as STOP_MARGIN_SECONDS,
} from '../config/gateway-fleet.js';
import { grantGatewayAccess, type GatewayGrants } from './gateway-function.js';
import { LogDeliveryBucket } from './log-delivery-bucket.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The port `npm run serve` listens on in the image (the Dockerfile's `PORT`). */
export const GATEWAY_CONTAINER_PORT = 8787;
/**
 * The ALB's idle timeout. It stays below the Node server's keep-alive timeout (65 s, `serve.ts`)
 * so the server never closes a connection the ALB is about to reuse.
 */
const ALB_IDLE_TIMEOUT = Duration.seconds(60);

/**
 * The repository's Dockerfile, with only what the image copies in its build context: the asset
 * hash (and so a new image at deploy) changes with the gateway's code, not with docs or tests.
 */
const gatewayImage = (): ecs.ContainerImage =>
  ecs.ContainerImage.fromAsset(REPO_ROOT, {
    file: 'Dockerfile',
    ignoreMode: IgnoreMode.DOCKER,
    exclude: [
      '*',
      '!Dockerfile',
      '!package.json',
      '!package-lock.json',
      '!tsconfig.json',
      '!shared',
      '!edge',
    ],
  });

export interface GatewayServiceProps extends GatewayGrants {
  /** Environment of the gateway (`SLUICE_*`), as the Lambda function gets it. */
  readonly environment: Record<string, string>;
  /** The VPC: the tasks and the internal ALB go in its private subnets. */
  readonly vpc: ec2.IVpc;
  /**
   * The tasks' security group: the one the VPC's interface endpoints (SageMaker Runtime, Step
   * Functions) admit. The ALB's ingress to the container port is added to it.
   */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Key of the log group. */
  readonly key: kms.IKey;
  /** ACM certificate (in this stack's region) of the ALB's HTTPS listener. */
  readonly originCertificateArn: string;
  /** The region's `com.amazonaws.global.cloudfront.origin-facing` managed prefix list. */
  readonly cloudFrontPrefixListId: string;
  /**
   * How long a stopping task lets in-flight requests and streams finish: `SLUICE_DRAIN_MS`, the
   * target group's deregistration delay, and (plus 5 s) the container's stop timeout.
   * @default Duration.seconds(60)
   */
  readonly drain?: Duration;
  /** Task CPU units. @default 1024 */
  readonly cpu?: number;
  /** Task memory, MiB. @default 2048 */
  readonly memoryMiB?: number;
  /** @default 2 */
  readonly minTasks?: number;
  /** @default 16 */
  readonly maxTasks?: number;
  /** Average CPU the service scales to keep. @default 60 */
  readonly cpuTargetPercent?: number;
  /** ALB requests per task per minute the service scales to keep. @default 600 */
  readonly requestsPerTaskPerMinute?: number;
  /** Alarms that roll a deployment back (ECS deployment alarms). @default none */
  readonly rollbackAlarms?: readonly cloudwatch.IAlarm[];
  /**
   * The gateway image. @default the repository's Dockerfile, built by the CDK CLI at deploy
   * (`cdk synth` only stages it) and pushed to the bootstrap ECR repository
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * The gateway as an ECS Fargate service: the `npm run serve` image (one Node.js server per task,
 * each response streamed on its own connection) in private subnets, behind an internal
 * Application Load Balancer whose HTTPS listener admits only CloudFront's origin-facing
 * addresses; CloudFront reaches it as a VPC origin (see `EdgeDistribution`). A stopping task is
 * deregistered and drained for `drain`, then gets SIGTERM and `drain` + 5 s to finish.
 */
export class GatewayService extends Construct {
  public readonly service: ecs.FargateService;
  public readonly taskRole: iam.Role;
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  public readonly listener: elbv2.ApplicationListener;
  public readonly targetGroup: elbv2.ApplicationTargetGroup;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: GatewayServiceProps) {
    super(scope, id);
    if (props.endpointArns.length === 0) throw new Error('GatewayService: no endpoints');
    const drain = props.drain ?? Duration.seconds(60);
    const drainSeconds = drain.toSeconds();
    if (drainSeconds < 1 || drainSeconds + STOP_MARGIN_SECONDS > MAX_STOP_TIMEOUT_SECONDS) {
      throw new Error(
        `GatewayService: drain must lie within 1..${MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS} s (Fargate stops a task at most ${MAX_STOP_TIMEOUT_SECONDS} s after SIGTERM)`,
      );
    }
    const minTasks = props.minTasks ?? 2;
    const maxTasks = props.maxTasks ?? 16;
    if (minTasks < 1 || minTasks > maxTasks) {
      throw new Error('GatewayService: 1 <= minTasks <= maxTasks must hold');
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.key,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description:
        'Sluice gateway task: invoke the configured endpoints, start the traffic shifter',
    });
    grantGatewayAccess(this.taskRole, props);

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 1024,
      memoryLimitMiB: props.memoryMiB ?? 2048,
      taskRole: this.taskRole,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const healthz = `http://127.0.0.1:${GATEWAY_CONTAINER_PORT}/healthz`;
    taskDefinition.addContainer('Gateway', {
      image: props.image ?? gatewayImage(),
      essential: true,
      environment: {
        ...props.environment,
        AWS_REGION: Stack.of(this).region,
        HOST: '0.0.0.0',
        PORT: String(GATEWAY_CONTAINER_PORT),
        SLUICE_DRAIN_MS: String(drainSeconds * 1000),
      },
      portMappings: [{ containerPort: GATEWAY_CONTAINER_PORT, protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'gateway' }),
      stopTimeout: Duration.seconds(drainSeconds + STOP_MARGIN_SECONDS),
      // The image has node and no curl: the probe is a fetch of /healthz.
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('${healthz}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
    });
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds the model catalogue, the issuer and JWKS URLs, client ids and resource names; no secret (the gateway holds none: it verifies JWTs with the public JWKS).',
    });

    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: minTasks,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [props.securityGroup],
      assignPublicIp: false,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      ...(props.rollbackAlarms?.length
        ? {
            deploymentAlarms: {
              alarmNames: props.rollbackAlarms.map((a) => a.alarmName),
              behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
            },
          }
        : {}),
    });

    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSg', {
      vpc: props.vpc,
      description: 'Sluice gateway ALB: HTTPS from CloudFront origin-facing addresses only',
      allowAllOutbound: false,
    });
    albSecurityGroup.addIngressRule(
      ec2.Peer.prefixList(props.cloudFrontPrefixListId),
      ec2.Port.tcp(443),
      'HTTPS from CloudFront (com.amazonaws.global.cloudfront.origin-facing)',
    );
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      internetFacing: false,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: albSecurityGroup,
      dropInvalidHeaderFields: true,
      idleTimeout: ALB_IDLE_TIMEOUT,
    });
    const accessLogs = new LogDeliveryBucket(this, 'AccessLogs');
    this.loadBalancer.logAccessLogs(accessLogs.bucket, 'gateway-alb');

    this.listener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(props.originCertificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      // No 0.0.0.0/0 rule: the security group above admits CloudFront only.
      open: false,
    });
    this.targetGroup = this.listener.addTargets('Gateway', {
      port: GATEWAY_CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service],
      deregistrationDelay: drain,
      // Streams hold a target for minutes: send new requests to the task with the fewest open.
      loadBalancingAlgorithmType:
        elbv2.TargetGroupLoadBalancingAlgorithmType.LEAST_OUTSTANDING_REQUESTS,
      healthCheck: {
        path: '/healthz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });

    const scaling = this.service.autoScaleTaskCount({
      minCapacity: minTasks,
      maxCapacity: maxTasks,
    });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.cpuTargetPercent ?? 60,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.minutes(5),
    });
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: props.requestsPerTaskPerMinute ?? 600,
      targetGroup: this.targetGroup,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.minutes(5),
    });

    const executionRole = taskDefinition.obtainExecutionRole();
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The task execution role pulls the gateway image: ecr:GetAuthorizationToken takes no resource but *; the image pull itself is granted on the one repository.',
    });
  }
}

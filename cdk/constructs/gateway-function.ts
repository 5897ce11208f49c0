import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag-acknowledge.js';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runtime of both functions: Managed Instances need Node.js 22 or later. */
export const GATEWAY_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** esbuild (the local binary, no Docker): one ESM file with a `require` shim for CJS deps. */
export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: true,
  mainFields: ['module', 'main'],
  banner:
    "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  externalModules: [],
};

export interface GatewayFunctionProps {
  /** Environment of the gateway (`SLUICE_*`). */
  readonly environment: Record<string, string>;
  /** Endpoints the gateway may invoke (and describe, for `/readyz`): exact ARNs. */
  readonly endpointArns: readonly string[];
  /**
   * Inference components the gateway may describe (its readiness check reads their status):
   * exact ARNs. Invoking them is authorized on the shared endpoint's ARN in `endpointArns`.
   * @default none
   */
  readonly inferenceComponentArns?: readonly string[];
  /** The traffic-shift state machine the admin API may start. @default none */
  readonly trafficStateMachineArn?: string;
  readonly vpcSubnets: ec2.ISubnet[];
  readonly securityGroup: ec2.ISecurityGroup;
  readonly key: kms.IKey;
  /** Alarms that roll a gateway deployment back. */
  readonly rollbackAlarms: readonly cloudwatch.IAlarm[];
  /** First traffic share of a new gateway version, percent. @default 5 */
  readonly canaryPercent?: number;
  /** Bake time before the rest of the traffic moves. @default 10 minutes */
  readonly bakeTime?: Duration;
  /** Concurrent requests per execution environment (1–1600). @default 64 */
  readonly maxConcurrency?: number;
  /**
   * Node.js worker threads per environment, set as `AWS_LAMBDA_NODEJS_WORKER_COUNT` (unset, the
   * runtime starts 8 per vCPU). Each worker holds its own gateway budgets (docs/lambda.md).
   * @default the environment's vCPUs (memoryMiB ÷ (1024 × memoryGiBPerVCpu))
   */
  readonly workersPerEnvironment?: number;
  /** @default 2 */
  readonly memoryGiBPerVCpu?: number;
  /** @default 2048 */
  readonly memoryMiB?: number;
  /** Capacity provider vCPU ceiling. @default 64 */
  readonly maxVCpu?: number;
  /** CPU target of the capacity provider's scaling. @default 70 */
  readonly cpuTargetPercent?: number;
  /** Gateway entry file. @default functions/gateway/handler.ts */
  readonly entry?: string;
}

/** What the gateway's role may reach, on exact ARNs (the Lambda function and the Fargate task). */
export interface GatewayGrants {
  readonly endpointArns: readonly string[];
  readonly inferenceComponentArns?: readonly string[];
  readonly trafficStateMachineArn?: string;
}

/**
 * Grants the gateway's role invoke and describe on exactly its endpoints, describe on exactly its
 * inference components, and starting exactly the traffic-shift state machine.
 */
export function grantGatewayAccess(role: iam.IRole, grants: GatewayGrants): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'sagemaker:InvokeEndpoint',
        'sagemaker:InvokeEndpointWithResponseStream',
        'sagemaker:DescribeEndpoint',
      ],
      resources: [...grants.endpointArns],
    }),
  );
  if (grants.inferenceComponentArns?.length) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:DescribeInferenceComponent'],
        resources: [...grants.inferenceComponentArns],
      }),
    );
  }
  if (grants.trafficStateMachineArn) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [grants.trafficStateMachineArn],
      }),
    );
  }
}

/**
 * The gateway on Lambda Managed Instances: a capacity provider (private subnets, CPU target
 * tracking) running the Hono app with many concurrent requests per environment, a published
 * version behind the alias `live`, a streaming function URL with IAM auth on the alias (the
 * CloudFront origin), and CodeDeploy shifting `live` as a canary with a pre-traffic hook and
 * alarm rollback.
 */
export class GatewayFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly alias: lambda.Alias;
  public readonly functionUrl: lambda.FunctionUrl;
  public readonly capacityProvider: lambda.CapacityProvider;
  public readonly deploymentGroup: codedeploy.LambdaDeploymentGroup;
  public readonly preTrafficHook: NodejsFunction;

  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    super(scope, id);
    const canary = props.canaryPercent ?? 5;
    if (canary < 1 || canary > 99) throw new Error('GatewayFunction: canaryPercent must be 1..99');
    if (props.endpointArns.length === 0) throw new Error('GatewayFunction: no endpoints');
    const memoryMiB = props.memoryMiB ?? 2048;
    const memoryGiBPerVCpu = props.memoryGiBPerVCpu ?? 2;
    const maxConcurrency = props.maxConcurrency ?? 64;
    const vCpus = Math.floor(memoryMiB / (1024 * memoryGiBPerVCpu));
    if (memoryMiB < 2048 || vCpus < 1 || memoryMiB % (1024 * memoryGiBPerVCpu) !== 0) {
      throw new Error(
        'GatewayFunction: memoryMiB must be at least 2048 and a whole multiple of 1024 × memoryGiBPerVCpu',
      );
    }
    const workers = props.workersPerEnvironment ?? vCpus;
    if (maxConcurrency < workers || maxConcurrency > 1600) {
      throw new Error(
        'GatewayFunction: maxConcurrency must lie within [workersPerEnvironment, 1600]',
      );
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.key,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sluice gateway: invoke the configured endpoints, start the traffic shifter',
    });
    logGroup.grantWrite(role);
    grantGatewayAccess(role, props);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry ?? path.join(REPO_ROOT, 'functions/gateway/handler.ts'),
      handler: 'handler',
      runtime: GATEWAY_RUNTIME,
      architecture: lambda.Architecture.X86_64,
      memorySize: memoryMiB,
      timeout: Duration.minutes(5),
      role,
      logGroup,
      environment: { ...props.environment, AWS_LAMBDA_NODEJS_WORKER_COUNT: String(workers) },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: BUNDLING,
      description: 'Sluice OpenAI-compatible gateway',
    });

    this.capacityProvider = new lambda.CapacityProvider(this, 'Capacity', {
      subnets: props.vpcSubnets,
      securityGroups: [props.securityGroup],
      architectures: [lambda.Architecture.X86_64],
      maxVCpuCount: props.maxVCpu ?? 64,
      scalingOptions: lambda.ScalingOptions.manual([
        lambda.TargetTrackingScalingPolicy.cpuUtilization(props.cpuTargetPercent ?? 70),
      ]),
    });
    this.capacityProvider.addFunction(this.function, {
      perExecutionEnvironmentMaxConcurrency: maxConcurrency,
      executionEnvironmentMemoryGiBPerVCpu: memoryGiBPerVCpu,
      // Traffic reaches numbered versions through the alias; CodeDeploy moves it between them.
      publishToLatestPublished: false,
    });
    Validations.of(this.capacityProvider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator]',
      reason:
        'The operator role of a Lambda capacity provider must carry the AWS managed policy AWSLambdaManagedEC2ResourceOperator (Lambda Managed Instances documentation); AWS keeps its EC2 actions scoped to instances Lambda manages.',
    });

    this.alias = new lambda.Alias(this, 'Live', {
      aliasName: 'live',
      version: this.function.currentVersion,
    });
    this.functionUrl = this.alias.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    const hookLogs = new logs.LogGroup(this, 'PreTrafficLogs', {
      encryptionKey: props.key,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const hookRole = new iam.Role(this, 'PreTrafficRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sluice pre-traffic hook: probe the new gateway version, report to CodeDeploy',
    });
    hookLogs.grantWrite(hookRole);
    this.preTrafficHook = new NodejsFunction(this, 'PreTraffic', {
      entry: path.join(REPO_ROOT, 'functions/pre-traffic/handler.ts'),
      handler: 'handler',
      runtime: GATEWAY_RUNTIME,
      timeout: Duration.minutes(2),
      role: hookRole,
      logGroup: hookLogs,
      // Each deployment publishes a new version, and this variable follows it, so the hook
      // always probes the version CodeDeploy is about to shift traffic to.
      environment: {
        TARGET_VERSION_ARN: this.function.currentVersion.functionArn,
        HEALTH_PATH: '/healthz',
      },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: BUNDLING,
      description: 'Sluice gateway pre-traffic hook',
    });
    hookRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.function.currentVersion.functionArn],
      }),
    );

    const config = new codedeploy.LambdaDeploymentConfig(this, 'Canary', {
      trafficRouting: new codedeploy.TimeBasedCanaryTrafficRouting({
        percentage: canary,
        interval: props.bakeTime ?? Duration.minutes(10),
      }),
    });
    this.deploymentGroup = new codedeploy.LambdaDeploymentGroup(this, 'Deployment', {
      alias: this.alias,
      deploymentConfig: config,
      preHook: this.preTrafficHook,
      alarms: [...props.rollbackAlarms],
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });
    acknowledgeWildcardResources(
      this.deploymentGroup,
      [`${this.preTrafficHook.functionArn}:*`],
      'CodeDeploy invokes the pre-traffic hook through a qualified ARN; the grant covers the versions of that one function.',
    );
    Validations.of(this.deploymentGroup).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      reason:
        'AWSCodeDeployRoleForLambdaLimited is the AWS managed service role policy for CodeDeploy Lambda deployments; it only updates aliases and invokes hook functions.',
    });
  }
}

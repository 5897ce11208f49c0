import { Annotations, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import {
  availabilityZonesContextKey,
  chooseAvailabilityZones,
  LOOKUP_ZONES,
} from '../config/availability-zones.js';
import { gatewayCatalogue } from '../config/gateway-catalogue.js';
import { gatewayFleet } from '../config/gateway-fleet.js';
import { componentModels, type SluiceConfig } from '../config/schema.js';
import { EdgeDistribution, FORWARDED_AUTH_HEADER } from '../constructs/edge-distribution.js';
import { EdgePayloadHash } from '../constructs/edge-payload-hash.js';
import { GatewayAlarms } from '../constructs/gateway-alarms.js';
import { GatewayFunction } from '../constructs/gateway-function.js';
import { GatewayNetwork } from '../constructs/gateway-network.js';
import { GatewayService } from '../constructs/gateway-service.js';
import type { Identity } from '../constructs/identity.js';
import { InferenceComponent } from '../constructs/inference-component.js';
import { InferenceEndpoint } from '../constructs/inference-endpoint.js';
import { ObservabilityDashboard } from '../constructs/observability-dashboard.js';
import { QuotaTable } from '../constructs/quota-table.js';
import { SharedEndpoint } from '../constructs/shared-endpoint.js';
import { TrafficShifter } from '../constructs/traffic-shifter.js';
import { UsageStream } from '../constructs/usage-stream.js';

export interface ServingStackProps extends StackProps {
  readonly config: SluiceConfig;
  readonly key: kms.IKey;
  /** ARN of the artifact bucket (an import of the data stack's export). */
  readonly artifactsBucketArn: string;
  readonly topic: sns.ITopic;
  readonly identity: Identity;
  readonly webAclArn: string;
  readonly edgeLogBucket: s3.IBucket;
  /** The us-east-1 stack that holds the Lambda@Edge function when this stack is elsewhere. */
  readonly edgeStack: Stack;
}

/**
 * The request path: GPU endpoints per model and shared endpoints with inference components, the
 * traffic shifter (for variant weights of single-model endpoints), the gateway (on Managed
 * Instances with its canary deployment, or with `gateway.runtime` `fargate` an ECS Fargate service
 * behind an internal ALB), CloudFront in front, and the alarms and dashboard.
 */
export class ServingStack extends Stack {
  public readonly endpoints: InferenceEndpoint[];
  public readonly sharedEndpoints: SharedEndpoint[];
  public readonly components: InferenceComponent[];
  /** Steps variant weights of single-model endpoints; absent when every model is a component. */
  public readonly shifter?: TrafficShifter;
  /** The gateway on ECS Fargate; present when `gateway.runtime` is `fargate`. */
  public readonly gatewayService?: GatewayService;
  public readonly edge: EdgeDistribution;
  /** Lambda@Edge body hash for the function URL's OAC; absent on Fargate. */
  public readonly payloadHash?: EdgePayloadHash;
  private readonly gatewayFunction?: GatewayFunction;

  /** The gateway on Lambda Managed Instances (`gateway.runtime` `lambda`, the default). */
  get gateway(): GatewayFunction {
    if (!this.gatewayFunction) {
      throw new Error(
        "ServingStack.gateway: gateway.runtime is 'fargate'; the gateway is gatewayService",
      );
    }
    return this.gatewayFunction;
  }

  constructor(scope: Construct, id: string, props: ServingStackProps) {
    super(scope, id, props);
    const { config } = props;
    const artifacts = s3.Bucket.fromBucketArn(this, 'ArtifactsBucket', props.artifactsBucketArn);

    // The gateway's latency alarms of each model (TTFT/TPOT p99) also roll back its endpoint or
    // component, so they are made first.
    const gatewayAlarms = new GatewayAlarms(this, 'GatewayAlarms', {
      models: config.models,
      thresholds: config.alarms,
      topic: props.topic,
    });

    // Construct ids follow each model's position in `models`, as they always have.
    this.endpoints = [];
    config.models.forEach((model, n) => {
      if (model.hosting !== 'endpoint') return;
      this.endpoints.push(
        new InferenceEndpoint(this, `Model${n}`, {
          model,
          artifacts,
          key: props.key,
          canary: config.canary,
          thresholds: config.alarms,
          topic: props.topic,
          gatewayRollback: gatewayAlarms.latencyOf(model.id),
        }),
      );
    });
    const components = componentModels(config.models);
    this.sharedEndpoints = config.sharedEndpoints.map(
      (endpoint) =>
        new SharedEndpoint(this, `Shared-${endpoint.name}`, {
          endpoint,
          components: components.filter((c) => c.inferenceComponent.endpoint === endpoint.name),
          artifacts,
          key: props.key,
        }),
    );
    this.components = components.map(
      (model) =>
        new InferenceComponent(this, `Component-${model.inferenceComponent.name}`, {
          model,
          endpoint: this.sharedEndpoints.find(
            (e) => e.endpointName === model.inferenceComponent.endpoint,
          )!,
          artifacts,
          canary: config.canary,
          thresholds: config.alarms,
          topic: props.topic,
          gatewayRollback: gatewayAlarms.latencyOf(model.id),
        }),
    );

    if (this.endpoints.length > 0) {
      this.shifter = new TrafficShifter(this, 'TrafficShifter', {
        endpoints: this.endpoints.map((e) => ({
          endpointName: e.endpointName,
          endpointArn: e.endpointArn,
          rollbackAlarms: e.alarms.rollback,
        })),
        steps: config.canary.steps,
        bakeTime: Duration.minutes(config.canary.bakeMinutes),
        key: props.key,
      });
    }
    const stateMachineArn = this.shifter?.stateMachine.stateMachineArn;

    const network = new GatewayNetwork(this, 'Network', {
      key: props.key,
      availabilityZones: this.gatewayZones(config),
    });
    const { identity } = props;
    const environment = {
      SLUICE_CONFIG_JSON: JSON.stringify(gatewayCatalogue(config)),
      SLUICE_AUTH_ISSUER: identity.issuer,
      SLUICE_AUTH_JWKS_URL: identity.jwksUrl,
      SLUICE_AUTH_CLIENT_IDS: `${identity.userClient.userPoolClientId},${identity.serviceClient.userPoolClientId}`,
      ...(stateMachineArn ? { SLUICE_TRAFFIC_STATE_MACHINE_ARN: stateMachineArn } : {}),
      SLUICE_METRICS: 'emf',
      // OAC's SigV4 signature replaces Authorization; the bearer token travels in this header.
      // (The viewer function copies it on every origin, so the Fargate gateway reads it too.)
      SLUICE_AUTH_TOKEN_HEADER: FORWARDED_AUTH_HEADER,
    };
    const grants = {
      endpointArns: [
        ...this.endpoints.map((e) => e.endpointArn),
        ...this.sharedEndpoints.map((e) => e.endpointArn),
      ],
      inferenceComponentArns: this.components.map((c) => c.componentArn),
      trafficStateMachineArn: stateMachineArn,
    };
    const edgeProps = {
      domainNames: config.edge.domainNames,
      certificateArn: config.edge.certificateArn,
      tlsPolicy: config.edge.tlsPolicy,
      webAclArn: props.webAclArn,
      logBucket: props.edgeLogBucket,
      originReadTimeout: Duration.seconds(config.edge.originReadTimeoutSeconds),
      originResponseCompletionTimeout: Duration.seconds(
        config.edge.originResponseCompletionSeconds,
      ),
    };

    if (config.gateway.runtime === 'fargate') {
      // The same environment and grants as the function; quotas and usage go in the environment
      // up front, since a task definition's environment is fixed once the container exists.
      const fargate = config.gateway.fargate;
      const quotas = new QuotaTable(this, 'Quotas', { key: props.key });
      const usage = new UsageStream(this, 'Usage', { key: props.key });
      this.gatewayService = new GatewayService(this, 'GatewayService', {
        environment: {
          ...environment,
          SLUICE_QUOTA_TABLE: quotas.table.tableName,
          SLUICE_USAGE_STREAM: usage.deliveryStream.deliveryStreamName,
        },
        ...grants,
        vpc: network.vpc,
        securityGroup: network.securityGroup,
        key: props.key,
        // The schema requires these three with runtime 'fargate'.
        originCertificateArn: fargate.originCertificateArn!,
        cloudFrontPrefixListId: fargate.cloudFrontPrefixListId!,
        drain: Duration.seconds(fargate.drainSeconds),
        cpu: fargate.cpu,
        memoryMiB: fargate.memoryMiB,
        minTasks: fargate.minTasks,
        maxTasks: fargate.maxTasks,
        cpuTargetPercent: fargate.cpuTargetPercent,
        requestsPerTaskPerMinute: fargate.requestsPerTaskPerMinute,
        rollbackAlarms: gatewayAlarms.rollback,
      });
      quotas.grantGateway(this.gatewayService.taskRole);
      usage.grantPut(this.gatewayService.taskRole);
      this.edge = new EdgeDistribution(this, 'Edge', {
        ...edgeProps,
        loadBalancer: {
          loadBalancer: this.gatewayService.loadBalancer,
          domainName: fargate.originDomainName!,
        },
      });
      this.dashboard(config, gatewayAlarms);
      return;
    }

    const gateway = new GatewayFunction(this, 'Gateway', {
      environment,
      ...grants,
      vpcSubnets: network.privateSubnets,
      securityGroup: network.securityGroup,
      key: props.key,
      rollbackAlarms: gatewayAlarms.rollback,
      canaryPercent: config.canary.percentage,
      bakeTime: Duration.minutes(config.canary.bakeMinutes),
      maxConcurrency: config.gateway.maxConcurrency,
      workersPerEnvironment: gatewayFleet(config.gateway).workersPerEnvironment,
      memoryGiBPerVCpu: config.gateway.memoryGiBPerVCpu,
      memoryMiB: config.gateway.memoryMiB,
      maxVCpu: config.gateway.maxVCpu,
      cpuTargetPercent: config.gateway.cpuTargetPercent,
    });
    this.gatewayFunction = gateway;

    // Token quotas and usage records, shared by every gateway environment (docs/usage.md).
    const quotas = new QuotaTable(this, 'Quotas', { key: props.key });
    quotas.grantGateway(gateway.function);
    gateway.function.addEnvironment('SLUICE_QUOTA_TABLE', quotas.table.tableName);
    const usage = new UsageStream(this, 'Usage', { key: props.key });
    usage.grantPut(gateway.function);
    gateway.function.addEnvironment('SLUICE_USAGE_STREAM', usage.deliveryStream.deliveryStreamName);

    this.payloadHash = new EdgePayloadHash(this, 'PayloadHash', { edgeStack: props.edgeStack });
    this.edge = new EdgeDistribution(this, 'Edge', {
      ...edgeProps,
      payloadHash: this.payloadHash.function.currentVersion,
      functionUrl: gateway.functionUrl,
    });
    this.dashboard(config, gatewayAlarms);
  }

  private dashboard(config: SluiceConfig, gatewayAlarms: GatewayAlarms): void {
    new ObservabilityDashboard(this, 'Observability', {
      models: config.models,
      alarms: [
        ...this.endpoints.flatMap((e) => e.alarms.all),
        ...this.components.flatMap((c) => c.alarms.all),
        ...gatewayAlarms.all,
      ],
    });
  }

  /**
   * The gateway VPC's zones: configured, or recorded by the CDK's lookup in `cdk.context.json`
   * (see `chooseAvailabilityZones`). With neither, the stack asks for the lookup (the CDK CLI
   * performs it with the deploy credentials and synthesizes again) and carries an error naming
   * `availabilityZones`, which fails `cdk synth` if the lookup cannot be made.
   */
  private gatewayZones(config: SluiceConfig): string[] {
    const key = availabilityZonesContextKey(config.account, config.region);
    const choice = chooseAvailabilityZones(config, this.node.tryGetContext(key));
    if ('zones' in choice) return choice.zones;
    Annotations.of(this).addError(choice.error);
    // Reading the stack's zones reports the missing lookup to the CLI; the value is a placeholder.
    return this.availabilityZones.slice(0, LOOKUP_ZONES);
  }
}

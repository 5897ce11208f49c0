import { App, type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import {
  GatewayService,
  type GatewayServiceProps,
} from '../../../cdk/constructs/gateway-service.js';
import { nagPacks } from '../../../cdk/stacks/nag.js';
import { buildSluiceApp, type SluiceStacks } from '../../../cdk/stacks/sluice-app.js';

const ENDPOINT = 'arn:aws:sagemaker:us-east-1:111111111111:endpoint/sluice-chat';
const COMPONENT = 'arn:aws:sagemaker:us-east-1:111111111111:inference-component/sluice-small';
const STATES = 'arn:aws:states:us-east-1:111111111111:stateMachine:sluice-shift';
const CERT = 'arn:aws:acm:us-east-1:111111111111:certificate/0f0e0d0c-1111-2222-3333-444455556666';
const PREFIX_LIST = 'pl-3b927c52';
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
const FARGATE = {
  runtime: 'fargate',
  fargate: {
    originDomainName: 'origin.api.example.com',
    originCertificateArn: CERT,
    cloudFrontPrefixListId: PREFIX_LIST,
    drainSeconds: 90,
  },
};

type Statement = { Action: string | string[]; Resource: unknown };
const statementsOf = (template: Template): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement,
  );

type ContainerDefinition = {
  Environment: { Name: string; Value: unknown }[];
  StopTimeout?: number;
  Image: unknown;
};
/** The gateway container of the template's one task definition. */
function containerOf(template: Template): ContainerDefinition {
  const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  expect(defs).toHaveLength(1);
  return (defs[0] as { Properties: { ContainerDefinitions: ContainerDefinition[] } }).Properties
    .ContainerDefinitions[0]!;
}
const environmentOf = (template: Template): Record<string, unknown> =>
  Object.fromEntries(containerOf(template).Environment.map((e) => [e.Name, e.Value]));

function service(props: Partial<GatewayServiceProps> = {}): Template {
  const app = new App();
  const stack = new Stack(app, 'Gateway', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  new GatewayService(stack, 'Gateway', {
    environment: { SLUICE_METRICS: 'emf' },
    endpointArns: [ENDPOINT],
    inferenceComponentArns: [COMPONENT],
    trafficStateMachineArn: STATES,
    vpc,
    securityGroup: new ec2.SecurityGroup(stack, 'Sg', { vpc }),
    key: new kms.Key(stack, 'Key'),
    originCertificateArn: CERT,
    cloudFrontPrefixListId: PREFIX_LIST,
    image: ecs.ContainerImage.fromRegistry('sluice-gateway:test'),
    ...props,
  });
  return Template.fromStack(stack);
}

describe('GatewayService', { timeout: 60_000 }, () => {
  it('stops a task no sooner than its drain: deregistration delay = drain, stop timeout = drain + 5 s', () => {
    const t = service({ drain: Duration.seconds(45) });
    expect(containerOf(t).StopTimeout).toBe(50);
    expect(environmentOf(t)).toMatchObject({
      SLUICE_DRAIN_MS: '45000',
      PORT: '8787',
      SLUICE_METRICS: 'emf',
    });
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({ PortMappings: [Match.objectLike({ ContainerPort: 8787 })] }),
      ],
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8787,
      Protocol: 'HTTP',
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      TargetGroupAttributes: Match.arrayWith([
        { Key: 'deregistration_delay.timeout_seconds', Value: '45' },
      ]),
    });
  });

  it('refuses a drain Fargate cannot wait for before SIGKILL', () => {
    expect(() => service({ drain: Duration.seconds(116) })).toThrow(/drain/);
    expect(() => service({ endpointArns: [] })).toThrow(/no endpoints/);
  });

  it('serves HTTPS on an internal ALB that admits only the CloudFront prefix list', () => {
    const t = service();
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
    });
    for (const [Key, Value] of [
      ['routing.http.drop_invalid_header_fields.enabled', 'true'],
      ['access_logs.s3.enabled', 'true'],
      ['idle_timeout.timeout_seconds', '60'],
    ]) {
      t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        LoadBalancerAttributes: Match.arrayWith([{ Key, Value }]),
      });
    }
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERT }],
    });
    const ingress = Object.values(t.findResources('AWS::EC2::SecurityGroup'))
      .flatMap(
        (g) =>
          (g as { Properties: { SecurityGroupIngress?: Record<string, unknown>[] } }).Properties
            .SecurityGroupIngress ?? [],
      )
      .concat(
        Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).map(
          (r) => (r as { Properties: Record<string, unknown> }).Properties,
        ),
      );
    const toAlb = ingress.filter((r) => r.FromPort === 443);
    expect(toAlb).toEqual([expect.objectContaining({ SourcePrefixListId: PREFIX_LIST })]);
    expect(ingress.some((r) => r.CidrIp === '0.0.0.0/0' || r.CidrIpv6 === '::/0')).toBe(false);
  });

  it('grants the task role exactly the endpoints, components and state machine', () => {
    const t = service();
    const statements = statementsOf(t);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: [
          'sagemaker:InvokeEndpoint',
          'sagemaker:InvokeEndpointWithResponseStream',
          'sagemaker:DescribeEndpoint',
        ],
        Resource: ENDPOINT,
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 'sagemaker:DescribeInferenceComponent',
        Resource: COMPONENT,
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'states:StartExecution', Resource: STATES }),
    );
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'ecs-tasks.amazonaws.com' } })],
      },
    });
  });

  it('scales between min and max tasks on CPU and on requests per target', () => {
    const t = service({ minTasks: 3, maxTasks: 9, cpuTargetPercent: 55 });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 3,
      MaxCapacity: 9,
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 55,
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 600,
        PredefinedMetricSpecification: Match.objectLike({
          PredefinedMetricType: 'ALBRequestCountPerTarget',
        }),
      }),
    });
    t.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DesiredCount: 3,
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
      }),
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }),
      },
    });
  });
});

describe('the app with gateway.runtime fargate', { timeout: 180_000 }, () => {
  let app: App;
  let stacks: SluiceStacks;
  let serving: Template;
  beforeAll(() => {
    app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    stacks = buildSluiceApp(app, parseSluiceConfig({ availabilityZones: ZONES, gateway: FARGATE }));
    serving = Template.fromStack(stacks.serving);
  }, 180_000);

  it('runs the gateway image on Fargate with no Lambda gateway, function URL or Lambda@Edge', () => {
    serving.resourceCountIs('AWS::ECS::Service', 1);
    serving.resourceCountIs('AWS::Lambda::Url', 0);
    expect(() => stacks.serving.gateway).toThrow(/fargate/);
    expect(stacks.serving.payloadHash).toBeUndefined();
    // The default image is the repository's Dockerfile, an asset in the bootstrap ECR repository.
    expect(JSON.stringify(containerOf(serving).Image)).toMatch(/cdk-hnb659fds-container-assets/);
  });

  it('gives the task the environment the function gets, with quotas, usage and the drain', () => {
    expect(containerOf(serving).StopTimeout).toBe(95);
    const env = environmentOf(serving);
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining([
        'SLUICE_CONFIG_JSON',
        'SLUICE_AUTH_ISSUER',
        'SLUICE_AUTH_JWKS_URL',
        'SLUICE_AUTH_CLIENT_IDS',
        'SLUICE_QUOTA_TABLE',
        'SLUICE_USAGE_STREAM',
      ]),
    );
    expect(env).toMatchObject({
      SLUICE_METRICS: 'emf',
      SLUICE_AUTH_TOKEN_HEADER: 'x-sluice-authorization',
      SLUICE_DRAIN_MS: '90000',
    });
    serving.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({ LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }) }),
      ],
    });
    const catalogue = env.SLUICE_CONFIG_JSON as string;
    // Each task is one process: a model's engine budget is divided across maxTasks (16).
    const config = parseSluiceConfig({ availabilityZones: ZONES, gateway: FARGATE });
    const shares = (
      JSON.parse(catalogue) as {
        models: { admit?: { maxConcurrency: number }; batch?: { maxConcurrentBatches: number } }[];
      }
    ).models.map((m) => m.admit?.maxConcurrency ?? m.batch?.maxConcurrentBatches);
    expect(shares).toEqual(config.models.map((m) => Math.floor(m.gatewayConcurrency / 16)));
  });

  it('grants the task role the endpoints, the quota table and the usage stream, never on *', () => {
    const role = stacks.serving.gatewayService!.taskRole;
    const ref = JSON.stringify({
      Ref: stacks.serving.getLogicalId(role.node.defaultChild as CfnElement),
    });
    const statements = Object.values(serving.findResources('AWS::IAM::Policy'))
      .map(
        (p) =>
          p as { Properties: { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } } },
      )
      .filter((p) => p.Properties.Roles.some((r) => JSON.stringify(r) === ref))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const actions = statements.flatMap((st) =>
      Array.isArray(st.Action) ? st.Action : [st.Action],
    );
    expect(actions).toEqual(
      expect.arrayContaining([
        'sagemaker:InvokeEndpointWithResponseStream',
        'dynamodb:UpdateItem',
        'firehose:PutRecordBatch',
      ]),
    );
    for (const st of statements) {
      expect([st.Resource].flat()).not.toContain('*');
    }
  });

  it('deregisters for the drain and checks /healthz', () => {
    serving.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/healthz',
      TargetGroupAttributes: Match.arrayWith([
        { Key: 'deregistration_delay.timeout_seconds', Value: '90' },
      ]),
    });
  });

  it('puts CloudFront in front of the ALB as an HTTPS VPC origin on the origin domain', () => {
    serving.hasResourceProperties('AWS::CloudFront::VpcOrigin', {
      VpcOriginEndpointConfig: Match.objectLike({
        OriginProtocolPolicy: 'https-only',
        HTTPSPort: 443,
        OriginSSLProtocols: ['TLSv1.2'],
      }),
    });
    serving.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Origins: [
          Match.objectLike({
            DomainName: 'origin.api.example.com',
            VpcOriginConfig: Match.objectLike({ OriginReadTimeout: 60 }),
          }),
        ],
      }),
    });
  });

  it('encrypts the gateway log group with the customer key', () => {
    const groups = Object.values(serving.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      expect((g as { Properties: { KmsKeyId?: unknown } }).Properties.KmsKeyId).toBeDefined();
    }
  });

  it('has no unacknowledged cdk-nag error in any stack', () => {
    for (const stack of Object.values(stacks)) {
      for (const pack of nagPacks(app)) {
        const errors = pack.validateScope(stack).violations.filter((v) => v.severity === 'error');
        expect(errors.map((e) => `${stack.stackName}: ${e.ruleName}`)).toEqual([]);
      }
    }
  });
});

describe('the gateway runtime setting', () => {
  it('defaults to lambda', () => {
    expect(parseSluiceConfig({ availabilityZones: ZONES }).gateway.runtime).toBe('lambda');
  });

  it('names each origin field fargate needs', () => {
    expect(() =>
      parseSluiceConfig({ availabilityZones: ZONES, gateway: { runtime: 'fargate' } }),
    ).toThrow(
      /gateway\.fargate\.originDomainName[\s\S]*originCertificateArn[\s\S]*cloudFrontPrefixListId/,
    );
  });

  it('refuses a memory size Fargate does not offer for the cpu', () => {
    expect(() =>
      parseSluiceConfig({
        availabilityZones: ZONES,
        gateway: { ...FARGATE, fargate: { ...FARGATE.fargate, cpu: 256, memoryMiB: 4096 } },
      }),
    ).toThrow(/memoryMiB/);
  });
});

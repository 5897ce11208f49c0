import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface GatewayNetworkProps {
  /** Key of the flow-log group. */
  readonly key: kms.IKey;
  /** Availability zones (Managed Instances spread instances across them). */
  readonly availabilityZones: readonly string[];
}

/**
 * The VPC the gateway's Managed Instances run in: private subnets with one NAT gateway for the
 * Cognito JWKS fetch, interface endpoints for SageMaker Runtime and Step Functions so inference
 * traffic stays on the AWS network, and flow logs to an encrypted log group.
 */
export class GatewayNetwork extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: GatewayNetworkProps) {
    super(scope, id);
    if (props.availabilityZones.length < 2)
      throw new Error('GatewayNetwork: at least two availability zones');
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      encryptionKey: props.key,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      availabilityZones: [...props.availabilityZones],
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'gateway', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'GatewaySg', {
      vpc: this.vpc,
      description: 'Sluice gateway instances: egress only',
      allowAllOutbound: true,
    });
    const endpointSg = new ec2.SecurityGroup(this, 'EndpointSg', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from the gateway only',
      allowAllOutbound: false,
    });
    endpointSg.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'HTTPS from the gateway');
    Validations.of(endpointSg).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'The only ingress rule admits TCP 443 from the gateway security group (no CIDR); the rule cannot evaluate the security-group reference and reports an error instead.',
    });
    for (const [name, service] of [
      ['SageMakerRuntime', ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME],
      ['StepFunctions', ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS],
    ] as const) {
      this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        securityGroups: [endpointSg],
        subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      });
    }
  }

  /** The private subnets the capacity provider launches instances into. */
  get privateSubnets(): ec2.ISubnet[] {
    return this.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnets;
  }
}

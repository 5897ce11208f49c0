import { DescribeCertificateCommand, ACMClient } from '@aws-sdk/client-acm';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  type Stack,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { DescribeAvailabilityZonesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { BatchGetImageCommand, ECRClient } from '@aws-sdk/client-ecr';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import type { SluiceConfigInput } from '../../../cdk/config/schema.js';
import { sdkClients } from '../../../tools/preflight/clients.js';
import { preflight } from '../../../tools/preflight/preflight.js';
import type { CheckResult, Deployment } from '../../../tools/preflight/types.js';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const BUCKET = 'sluicedata-artifacts1234-abcdef';
export const CERT_ARN = `arn:aws:acm:us-east-1:${ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789abc`;
export const LMI_TAG = '0.30.0-lmi12.0.0-cu124';

/**
 * A deployment in eu-west-1 (so bootstrap is checked in two regions): a chat model on its own
 * ml.g5.2xlarge endpoint (max 2) and an embedding model as an inference component on a shared
 * ml.g5.12xlarge endpoint (max 2).
 */
export const INPUT: SluiceConfigInput = {
  account: ACCOUNT,
  region: REGION,
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  edge: { domainNames: ['api.example.com'], certificateArn: CERT_ARN },
  sharedEndpoints: [{ name: 'shared-g5', instanceType: 'ml.g5.12xlarge', maxInstanceCount: 2 }],
  models: [
    {
      id: 'deepseek-r1-distill-llama-8b',
      kind: 'chat',
      endpointName: 'sluice-deepseek-8b',
      variants: [{ name: 'g5', instanceType: 'ml.g5.2xlarge', minCapacity: 1, maxCapacity: 2 }],
    },
    {
      id: 'bge-large-en',
      kind: 'embedding',
      inferenceComponent: {
        endpoint: 'shared-g5',
        name: 'bge-large',
        acceleratorDevices: 1,
        minMemoryMb: 8192,
      },
    },
  ],
};

export const deploymentOf = (
  input: SluiceConfigInput = INPUT,
  context: Record<string, unknown> = {},
): Deployment => ({ config: parseSluiceConfig(input), context });

/** Real SDK clients; the mocks below replace `send` on every instance of each class. */
export const clients = () => sdkClients({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });

export const mocks = {
  sts: mockClient(STSClient),
  quotas: mockClient(ServiceQuotasClient),
  ec2: mockClient(EC2Client),
  cfn: mockClient(CloudFormationClient),
  ssm: mockClient(SSMClient),
  acm: mockClient(ACMClient),
  s3: mockClient(S3Client),
  ecr: mockClient(ECRClient),
};

/** An SDK service error as the clients throw it. */
export function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

export const MODEL_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'];

/** An account where every check passes for {@link INPUT}. */
export function passingAccount(): void {
  for (const m of Object.values(mocks)) m.reset();
  mocks.sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/deployer` });
  // g5.2xlarge was raised (an applied value); g5.12xlarge is only listed with its default.
  mocks.quotas.on(ListServiceQuotasCommand).resolves({
    Quotas: [
      { QuotaName: 'ml.g5.2xlarge for endpoint usage', QuotaCode: 'L-9614C779', Value: 4 },
      { QuotaName: 'ml.g5.2xlarge for training job usage', QuotaCode: 'L-1', Value: 0 },
    ],
  });
  mocks.quotas.on(ListAWSDefaultServiceQuotasCommand).resolves({
    Quotas: [{ QuotaName: 'ml.g5.12xlarge for endpoint usage', QuotaCode: 'L-65C4BD00', Value: 4 }],
  });
  mocks.ec2.on(DescribeAvailabilityZonesCommand).resolves({
    AvailabilityZones: ['a', 'b', 'c'].map((z) => ({
      ZoneName: `${REGION}${z}`,
      State: 'available',
      ZoneType: 'availability-zone',
    })),
  });
  mocks.cfn
    .on(DescribeStacksCommand, { StackName: 'CDKToolkit' })
    .resolves({ Stacks: [stack('CDKToolkit', 'UPDATE_COMPLETE')] });
  mocks.cfn.on(DescribeStacksCommand, { StackName: 'SluiceData' }).resolves({
    Stacks: [
      {
        ...stack('SluiceData', 'CREATE_COMPLETE'),
        Outputs: [{ OutputKey: 'ArtifactsBucketArn', OutputValue: `arn:aws:s3:::${BUCKET}` }],
      },
    ],
  });
  mocks.ssm
    .on(GetParameterCommand, { Name: '/cdk-bootstrap/hnb659fds/version' })
    .resolves({ Parameter: { Value: '29' } });
  mocks.acm.on(DescribeCertificateCommand, { CertificateArn: CERT_ARN }).resolves({
    Certificate: {
      CertificateArn: CERT_ARN,
      DomainName: 'example.com',
      SubjectAlternativeNames: ['example.com', '*.example.com'],
      Status: 'ISSUED',
    },
  });
  mocks.s3.on(ListObjectsV2Command).callsFake((input: { Prefix: string }) => ({
    Contents: MODEL_FILES.map((f) => ({ Key: `${input.Prefix}${f}` })),
  }));
  mocks.ecr.on(BatchGetImageCommand).callsFake((input: { imageIds: { imageTag: string }[] }) => ({
    images: [{ imageId: input.imageIds[0] }],
    failures: [],
  }));
}

export function stack(name: string, status: StackStatus): Stack {
  return { StackName: name, StackStatus: status, CreationTime: new Date(0) };
}

/** Runs preflight against the mocks: exit code, rows, the printed text, and rows of one check. */
export async function runPreflight(deployment: Deployment = deploymentOf()) {
  let text = '';
  const report = await preflight({
    deployment,
    aws: { clients: clients() },
    timeoutMs: 5000,
    out: (t) => (text += `${t}\n`),
  });
  const rows = (check: string): CheckResult[] => report.results.filter((r) => r.check === check);
  return { ...report, text, rows };
}

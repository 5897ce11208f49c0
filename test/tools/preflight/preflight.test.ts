import { DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAvailabilityZonesCommand } from '@aws-sdk/client-ec2';
import { BatchGetImageCommand } from '@aws-sdk/client-ecr';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
} from '@aws-sdk/client-service-quotas';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  BUCKET,
  INPUT,
  LMI_TAG,
  awsError,
  deploymentOf,
  mocks,
  passingAccount,
  runPreflight,
  stack,
} from './fixtures.js';

beforeEach(passingAccount);

describe('npm run preflight against a ready account', () => {
  it('passes every check and exits 0', async () => {
    const { exitCode, results, text } = await runPreflight();
    expect(results.map((r) => [r.check, r.subject, r.status])).toEqual([
      ['account', ACCOUNT, 'pass'],
      ['quotas', 'ml.g5.2xlarge', 'pass'],
      ['quotas', 'ml.g5.12xlarge', 'pass'],
      ['zones', 'eu-west-1', 'pass'],
      ['bootstrap', 'eu-west-1', 'pass'],
      ['bootstrap', 'us-east-1', 'pass'],
      ['certificate', 'api.example.com', 'pass'],
      ['artifacts', 'models/deepseek-r1-distill-llama-8b/v1/', 'pass'],
      ['artifacts', 'models/bge-large-en/v1/', 'pass'],
      ['images', `djl-inference:${LMI_TAG}`, 'pass'],
      ['images', 'tei:2.0.1-tei1.8.2-gpu-py310-cu122-ubuntu22.04', 'pass'],
    ]);
    expect(exitCode).toBe(0);
    expect(text).toContain(`account ${ACCOUNT}`);
    expect(text).toMatch(/^PASS\s+quotas\s+ml\.g5\.2xlarge\s+quota 4, needs 4/m);
    expect(text).toContain('11 passed');
    expect(text).not.toContain('fix:');
  });

  it('asks each service what the check needs, in the configured region or us-east-1', async () => {
    await runPreflight();
    expect(mocks.quotas.commandCalls(ListServiceQuotasCommand)[0]!.args[0].input).toEqual({
      ServiceCode: 'sagemaker',
      MaxResults: 100,
    });
    // The shared endpoint's type was never raised: its default value comes from the default list.
    expect(mocks.quotas.commandCalls(ListAWSDefaultServiceQuotasCommand)).toHaveLength(1);
    const toolkitRegions = await Promise.all(
      mocks.cfn
        .commandCalls(DescribeStacksCommand, { StackName: 'CDKToolkit' })
        .map((c) => (c.thisValue as { config: { region: () => Promise<string> } }).config.region()),
    );
    expect(toolkitRegions.sort()).toEqual(['eu-west-1', 'us-east-1']);
    expect(mocks.ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
    const acmRegion = await mocks.acm
      .commandCalls(DescribeCertificateCommand)[0]!
      .thisValue.config.region();
    expect(acmRegion).toBe('us-east-1');
    expect(mocks.s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toContainEqual(
      expect.objectContaining({ Bucket: BUCKET, Prefix: 'models/bge-large-en/v1/' }),
    );
    expect(mocks.ecr.commandCalls(BatchGetImageCommand)[0]!.args[0].input).toEqual({
      registryId: '763104351884',
      repositoryName: 'djl-inference',
      imageIds: [{ imageTag: LMI_TAG }],
    });
  });
});

describe('npm run preflight finds each problem and says how to fix it', () => {
  it('fails when the credentials belong to another account', async () => {
    mocks.sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
    const { exitCode, rows } = await runPreflight();
    expect(rows('account')[0]).toMatchObject({
      status: 'fail',
      detail: `credentials are for 999999999999; sluice.account is ${ACCOUNT}`,
      fix: expect.stringContaining('Set sluice.account to 999999999999'),
    });
    expect(exitCode).toBe(1);
  });

  it('fails an instance type whose endpoint quota is below twice its maximum capacity', async () => {
    mocks.quotas.on(ListServiceQuotasCommand).resolves({
      Quotas: [
        { QuotaName: 'ml.g5.2xlarge for endpoint usage', QuotaCode: 'L-9614C779', Value: 2 },
      ],
    });
    const { exitCode, rows, text } = await runPreflight();
    expect(rows('quotas')).toEqual([
      {
        check: 'quotas',
        subject: 'ml.g5.2xlarge',
        status: 'fail',
        detail: 'quota 2, needs 4 (2 × sluice-deepseek-8b/g5 max 2)',
        fix: expect.stringContaining(
          '--service-code sagemaker --quota-code L-9614C779 --desired-value 4 --region eu-west-1',
        ),
      },
      expect.objectContaining({ subject: 'ml.g5.12xlarge', status: 'pass' }),
    ]);
    expect(exitCode).toBe(1);
    expect(text).toMatch(/^FAIL\s+quotas\s+ml\.g5\.2xlarge\s+quota 2, needs 4/m);
    expect(text).toContain('fix: Request an increase');
  });

  it('fails an instance type that has no endpoint quota in the region', async () => {
    mocks.quotas.on(ListAWSDefaultServiceQuotasCommand).resolves({ Quotas: [] });
    const { rows } = await runPreflight();
    expect(rows('quotas')[1]).toMatchObject({
      subject: 'ml.g5.12xlarge',
      status: 'fail',
      fix: expect.stringContaining('Choose an instance type SageMaker hosts in eu-west-1'),
    });
  });

  it('fails a configured zone that is not available, and lists the ones that are', async () => {
    mocks.ec2.on(DescribeAvailabilityZonesCommand).resolves({
      AvailabilityZones: [
        { ZoneName: 'eu-west-1a', State: 'available', ZoneType: 'availability-zone' },
        { ZoneName: 'eu-west-1b', State: 'impaired', ZoneType: 'availability-zone' },
        { ZoneName: 'eu-west-1c', State: 'available', ZoneType: 'availability-zone' },
        { ZoneName: 'eu-west-1-lhr-1a', State: 'available', ZoneType: 'local-zone' },
      ],
    });
    const { exitCode, rows } = await runPreflight();
    expect(rows('zones')[0]).toMatchObject({
      status: 'fail',
      detail: 'eu-west-1b is impaired; zones from sluice.availabilityZones',
      fix: 'Set sluice.availabilityZones to two or three of: eu-west-1a, eu-west-1c.',
    });
    expect(exitCode).toBe(1);
  });

  it('checks the zones a context lookup recorded when the config names none', async () => {
    const { availabilityZones: _, ...rest } = INPUT;
    const key = `availability-zones:account=${ACCOUNT}:region=eu-west-1`;
    const { rows } = await runPreflight(
      deploymentOf(rest, { [key]: ['eu-west-1a', 'eu-west-1d'] }),
    );
    expect(rows('zones')[0]).toMatchObject({
      status: 'fail',
      detail: `eu-west-1d does not exist (or is not enabled for the account); zones from cdk.context.json ${key}`,
      fix: 'Set sluice.availabilityZones to two or three of: eu-west-1a, eu-west-1b, eu-west-1c.',
    });
  });

  it("fails configured zones the recorded lookup does not list, with the app's own message", async () => {
    const key = `availability-zones:account=${ACCOUNT}:region=eu-west-1`;
    const { rows } = await runPreflight(
      deploymentOf(INPUT, { [key]: ['eu-west-1a', 'eu-west-1c'] }),
    );
    expect(rows('zones')[0]).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(
        /^sluice\.availabilityZones: eu-west-1b is not among the zones/,
      ),
    });
  });

  it('with no zones configured or recorded, checks what the lookup at deploy would find', async () => {
    const { availabilityZones: _, ...rest } = INPUT;
    expect((await runPreflight(deploymentOf(rest))).rows('zones')[0]).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining('would pick eu-west-1a, eu-west-1b, eu-west-1c'),
    });
    mocks.ec2.on(DescribeAvailabilityZonesCommand).resolves({
      AvailabilityZones: [{ ZoneName: 'eu-west-1a', State: 'available' }],
    });
    expect((await runPreflight(deploymentOf(rest))).rows('zones')[0]).toMatchObject({
      status: 'fail',
      detail: 'only 1 available zone(s); the gateway VPC needs two',
    });
  });

  it('fails a region where CDKToolkit is missing, with the bootstrap command', async () => {
    mocks.cfn
      .on(DescribeStacksCommand, { StackName: 'CDKToolkit' })
      .callsFake(async (_input, getClient) => {
        if ((await getClient().config.region()) === 'us-east-1') {
          throw awsError('ValidationError', 'Stack with id CDKToolkit does not exist');
        }
        return { Stacks: [stack('CDKToolkit', 'CREATE_COMPLETE')] };
      });
    const { exitCode, rows } = await runPreflight();
    expect(rows('bootstrap')).toEqual([
      expect.objectContaining({ subject: 'eu-west-1', status: 'pass' }),
      {
        check: 'bootstrap',
        subject: 'us-east-1',
        status: 'fail',
        detail: 'no CDKToolkit stack',
        fix: `Run: npx cdk bootstrap aws://${ACCOUNT}/us-east-1`,
      },
    ]);
    expect(exitCode).toBe(1);
  });

  it('fails a bootstrap version older than the synthesizer needs', async () => {
    mocks.ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '6' } });
    const { rows } = await runPreflight();
    expect(rows('bootstrap')[0]).toMatchObject({
      status: 'fail',
      detail: 'bootstrap version 6, needs 8 or later',
      fix: `Run: npx cdk bootstrap aws://${ACCOUNT}/eu-west-1 (upgrades the stack in place)`,
    });
  });
});

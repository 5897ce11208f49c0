import { DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { BatchGetImageCommand } from '@aws-sdk/client-ecr';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  BUCKET,
  CERT_ARN,
  INPUT,
  LMI_TAG,
  awsError,
  deploymentOf,
  mocks,
  passingAccount,
  runPreflight,
} from './fixtures.js';

beforeEach(passingAccount);

describe('npm run preflight finds problems with the certificate, artifacts and images', () => {
  it('fails a certificate still pending validation', async () => {
    mocks.acm.on(DescribeCertificateCommand).resolves({
      Certificate: { DomainName: 'api.example.com', Status: 'PENDING_VALIDATION' },
    });
    const { exitCode, rows } = await runPreflight();
    expect(rows('certificate')).toEqual([
      {
        check: 'certificate',
        subject: 'api.example.com',
        status: 'fail',
        detail: 'certificate is PENDING_VALIDATION',
        fix: 'Create the DNS validation records ACM lists for the certificate and wait for ISSUED.',
      },
    ]);
    expect(exitCode).toBe(1);
  });

  it('fails a certificate that does not cover the domain', async () => {
    mocks.acm.on(DescribeCertificateCommand).resolves({
      Certificate: { DomainName: 'www.example.org', Status: 'ISSUED' },
    });
    const { rows } = await runPreflight();
    expect(rows('certificate')[0]).toMatchObject({
      status: 'fail',
      detail: 'certificate names www.example.org do not cover api.example.com',
      fix: expect.stringContaining('Request a public certificate in us-east-1 for api.example.com'),
    });
  });

  it('fails a missing certificate, and one from another account without asking ACM', async () => {
    mocks.acm
      .on(DescribeCertificateCommand)
      .rejects(awsError('ResourceNotFoundException', 'Could not find certificate'));
    expect((await runPreflight()).rows('certificate')[0]).toMatchObject({
      status: 'fail',
      detail: `no certificate ${CERT_ARN}`,
    });
    mocks.acm.resetHistory();
    const other = {
      ...INPUT,
      edge: { ...INPUT.edge, certificateArn: CERT_ARN.replace(ACCOUNT, '111111111111') },
    };
    expect((await runPreflight(deploymentOf(other))).rows('certificate')[0]).toMatchObject({
      status: 'fail',
      detail: `edge.certificateArn belongs to account 111111111111, the credentials to ${ACCOUNT}`,
    });
    expect(mocks.acm.commandCalls(DescribeCertificateCommand)).toHaveLength(0);
  });

  it('fails a model version whose files are not all in the artifact bucket', async () => {
    mocks.s3
      .on(ListObjectsV2Command, { Prefix: 'models/bge-large-en/v1/' })
      .resolves({ Contents: [{ Key: 'models/bge-large-en/v1/config.json' }] });
    const { exitCode, rows } = await runPreflight();
    expect(rows('artifacts')[1]).toEqual({
      check: 'artifacts',
      subject: 'models/bge-large-en/v1/',
      status: 'fail',
      detail: `s3://${BUCKET}/models/bge-large-en/v1/ lacks tokenizer.json or tokenizer.model, *.safetensors or *.bin weights (1 files; bge-large)`,
      fix: `Upload the model directory: aws s3 sync <local model dir> s3://${BUCKET}/models/bge-large-en/v1/`,
    });
    expect(exitCode).toBe(1);
  });

  it('skips the artifacts while the data stack that creates the bucket is not deployed', async () => {
    mocks.cfn
      .on(DescribeStacksCommand, { StackName: 'SluiceData' })
      .rejects(awsError('ValidationError', 'Stack with id SluiceData does not exist'));
    const { exitCode, rows } = await runPreflight();
    expect(rows('artifacts').map((r) => r.status)).toEqual(['skip', 'skip']);
    expect(rows('artifacts')[0]!.fix).toContain('npx cdk deploy SluiceData');
    expect(mocks.s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
    expect(exitCode).toBe(0);
  });

  it('fails an image tag the registry does not have', async () => {
    mocks.ecr.on(BatchGetImageCommand, { repositoryName: 'djl-inference' }).resolves({
      images: [],
      failures: [
        {
          imageId: { imageTag: LMI_TAG },
          failureCode: 'ImageNotFound',
          failureReason: 'Requested image not found',
        },
      ],
    });
    const { exitCode, rows } = await runPreflight();
    expect(rows('images')[0]).toMatchObject({
      status: 'fail',
      detail: 'ImageNotFound in registry 763104351884 (eu-west-1): Requested image not found',
      fix: expect.stringContaining(
        'Set imageTag on deepseek-r1-distill-llama-8b to a tag AWS publishes in eu-west-1',
      ),
    });
    expect(exitCode).toBe(1);
  });

  it('reports an image the registry will not show this account as unverified, not failed', async () => {
    mocks.ecr
      .on(BatchGetImageCommand)
      .rejects(
        awsError('AccessDeniedException', 'not authorized to perform ecr:BatchGetImage', 403),
      );
    const { exitCode, rows, text } = await runPreflight();
    expect(rows('images').map((r) => r.status)).toEqual(['unverified', 'unverified']);
    expect(rows('images')[0]!.fix).toContain(
      'allow ecr:BatchGetImage on arn:aws:ecr:eu-west-1:763104351884:repository/djl-inference',
    );
    expect(text).toContain('2 could not be verified');
    expect(exitCode).toBe(0);
  });
});

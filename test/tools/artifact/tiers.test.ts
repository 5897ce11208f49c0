import {
  CopyObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  promoteVersion,
  requireHot,
  restoreVersion,
  tierStatus,
} from '../../../tools/artifact/tiers.js';

const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });
const bucket = 'sluice-artifacts';
const ref = { bucket, model: 'deepseek/r1:8b', version: 'v3' };
const keyArn = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';

afterEach(() => s3Mock.reset());

function listing(objects: Record<string, { StorageClass?: string; Size?: number }[]>) {
  s3Mock.on(ListObjectsV2Command).callsFake((input: { Prefix: string }) => ({
    Contents: (objects[input.Prefix] ?? []).map((o, i) => ({
      Key: `${input.Prefix}${i === 0 ? 'config.json' : `model-0000${i}.safetensors`}`,
      Size: o.Size ?? 10,
      StorageClass: o.StorageClass,
    })),
    IsTruncated: false,
  }));
}

describe('tier status', () => {
  it('places each file in hot, warm or archive, with the restore state of archived ones', async () => {
    listing({
      'models/deepseek-r1-8b/v3/': [{ StorageClass: 'STANDARD' }, { StorageClass: 'STANDARD_IA' }],
      'archive/models/deepseek-r1-8b/v3/': [{ StorageClass: 'DEEP_ARCHIVE' }],
    });
    s3Mock.on(HeadObjectCommand).resolves({ Restore: 'ongoing-request="true"' });
    const files = await tierStatus(s3, ref);
    expect(files.map((f) => [f.path, f.tier, f.restore])).toEqual([
      ['config.json', 'hot', 'not-needed'],
      ['model-00001.safetensors', 'warm', 'not-needed'],
      ['config.json', 'archive', 'in-progress'],
    ]);
  });
});

describe('restore', () => {
  it('starts a Deep Archive restore once per file, says hours, and counts ongoing ones on a rerun', async () => {
    listing({
      'archive/models/deepseek-r1-8b/v3/': [
        { StorageClass: 'DEEP_ARCHIVE' },
        { StorageClass: 'DEEP_ARCHIVE' },
      ],
    });
    s3Mock
      .on(HeadObjectCommand, { Key: 'archive/models/deepseek-r1-8b/v3/config.json' })
      .resolves({})
      .on(HeadObjectCommand, { Key: 'archive/models/deepseek-r1-8b/v3/model-00001.safetensors' })
      .resolves({ Restore: 'ongoing-request="true"' });
    s3Mock.on(RestoreObjectCommand).resolves({});
    const first = await restoreVersion(s3, { ...ref, tier: 'Bulk', days: 3 });
    expect(first).toMatchObject({ started: 1, inProgress: 1, ready: 0 });
    expect(first.message).toMatch(/DEEP_ARCHIVE within 48 hours.*Run this command again/);
    expect(s3Mock.commandCalls(RestoreObjectCommand).map((c) => c.args[0].input)).toEqual([
      {
        Bucket: bucket,
        Key: 'archive/models/deepseek-r1-8b/v3/config.json',
        RestoreRequest: { Days: 3, GlacierJobParameters: { Tier: 'Bulk' } },
      },
    ]);
  });

  it('treats RestoreAlreadyInProgress as progress, not failure', async () => {
    listing({ 'archive/models/deepseek-r1-8b/v3/': [{ StorageClass: 'DEEP_ARCHIVE' }] });
    s3Mock.on(HeadObjectCommand).resolves({});
    s3Mock.on(RestoreObjectCommand).rejects(
      new S3ServiceException({
        name: 'RestoreAlreadyInProgress',
        $fault: 'client',
        $metadata: { httpStatusCode: 409 },
      }),
    );
    const result = await restoreVersion(s3, ref);
    expect(result).toMatchObject({ started: 0, inProgress: 1 });
    expect(result.message).toMatch(/within 12 hours/);
  });
});

describe('promote', () => {
  it('refuses, copying nothing, while an archived file is not restored', async () => {
    listing({ 'archive/models/deepseek-r1-8b/v3/': [{ StorageClass: 'DEEP_ARCHIVE' }] });
    s3Mock.on(HeadObjectCommand).resolves({ Restore: 'ongoing-request="true"' });
    await expect(promoteVersion(s3, { ...ref, kmsKeyId: keyArn })).rejects.toThrow(
      /1 archived files are not restored yet.*npm run artifact -- restore/,
    );
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  it('copies warm and restored files into S3 Standard under the customer key', async () => {
    listing({
      'models/deepseek-r1-8b/v3/': [{ StorageClass: 'STANDARD_IA' }],
      'archive/models/deepseek-r1-8b/v3/': [
        { StorageClass: 'DEEP_ARCHIVE' },
        { StorageClass: 'DEEP_ARCHIVE' },
      ],
    });
    s3Mock
      .on(HeadObjectCommand)
      .resolves({ ETag: '"e1"', Restore: 'ongoing-request="false", expiry-date="x"' });
    s3Mock.on(CopyObjectCommand).resolves({});
    const result = await promoteVersion(s3, { ...ref, kmsKeyId: keyArn });
    expect(result.copied).toBe(2);
    const copies = s3Mock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
    expect(copies).toEqual([
      {
        Bucket: bucket,
        Key: 'models/deepseek-r1-8b/v3/config.json',
        CopySource: `${bucket}/models/deepseek-r1-8b/v3/config.json`,
        CopySourceIfMatch: '"e1"',
        MetadataDirective: 'COPY',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: keyArn,
        BucketKeyEnabled: true,
        StorageClass: 'STANDARD',
      },
      expect.objectContaining({
        Key: 'models/deepseek-r1-8b/v3/model-00001.safetensors',
        CopySource: `${bucket}/archive/models/deepseek-r1-8b/v3/model-00001.safetensors`,
        StorageClass: 'STANDARD',
        SSEKMSKeyId: keyArn,
      }),
    ]);
  });
});

describe('the hot-tier guard of the rollout', () => {
  it('passes when every file is in S3 Standard', async () => {
    s3Mock.on(HeadObjectCommand).resolves({});
    await expect(requireHot(s3, { ...ref, paths: ['a', 'b'] })).resolves.toBeUndefined();
  });

  it('refuses a version with warm or missing files, saying to promote it', async () => {
    s3Mock
      .on(HeadObjectCommand, { Key: 'models/deepseek-r1-8b/v3/a' })
      .resolves({ StorageClass: 'STANDARD_IA' })
      .on(HeadObjectCommand, { Key: 'models/deepseek-r1-8b/v3/b' })
      .rejects(new NotFound({ message: 'not found', $metadata: { httpStatusCode: 404 } }));
    await expect(requireHot(s3, { ...ref, paths: ['a', 'b'] })).rejects.toThrow(
      /deepseek\/r1:8b@v3 is not in the hot tier: 2 of 2 files.*a \(STANDARD_IA\), b \(missing\).*promote/,
    );
  });
});

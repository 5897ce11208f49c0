import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { copyVerified } from '../../../functions/artifact-ingest/copy.js';
import { fakeBucket } from './fake-s3.js';

const BUCKET = 'b';
const KEY_ARN = 'arn:aws:kms:us-east-1:111111111111:key/k';
const s3 = fakeBucket(BUCKET);
beforeEach(() => s3.reset());

describe('copying a verified object', () => {
  it('uses multipart copy above the single-copy limit, every part pinned to the verified ETag', async () => {
    const body = randomBytes(2500);
    s3.put('incoming/m/v/big.bin', body);
    const etag = s3.objects.get('incoming/m/v/big.bin')!.etag;
    await copyVerified(s3.client, {
      bucket: BUCKET,
      sourceKey: 'incoming/m/v/big.bin',
      destinationKey: 'models/m/v/big.bin',
      size: body.length,
      etag,
      kmsKeyId: KEY_ARN,
      singleCopyLimit: 1000,
      partSize: 1000,
    });
    expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(s3.mock.commandCalls(CreateMultipartUploadCommand)[0]!.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'models/m/v/big.bin',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: KEY_ARN,
      BucketKeyEnabled: true,
      StorageClass: 'STANDARD',
    });
    const parts = s3.mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input);
    expect(parts.map((p) => [p.PartNumber, p.CopySourceRange, p.CopySourceIfMatch])).toEqual([
      [1, 'bytes=0-999', etag],
      [2, 'bytes=1000-1999', etag],
      [3, 'bytes=2000-2499', etag],
    ]);
    expect(
      s3.mock.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input.MultipartUpload,
    ).toEqual({
      Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"part-${n}"` })),
    });
    expect(s3.objects.get('models/m/v/big.bin')!.body.equals(body)).toBe(true);
  });

  it('aborts the upload when the source changed since it was verified', async () => {
    s3.put('incoming/m/v/big.bin', randomBytes(2500));
    await expect(
      copyVerified(s3.client, {
        bucket: BUCKET,
        sourceKey: 'incoming/m/v/big.bin',
        destinationKey: 'models/m/v/big.bin',
        size: 2500,
        etag: '"stale"',
        kmsKeyId: KEY_ARN,
        singleCopyLimit: 1000,
        partSize: 1000,
      }),
    ).rejects.toMatchObject({ name: 'PreconditionFailed' });
    expect(s3.mock.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
    expect(s3.objects.has('models/m/v/big.bin')).toBe(false);
  });
});

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { copySource } from './paths.js';

/** CopyObject copies at most 5 GB in one call; above that, multipart copy. */
export const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;
const MIN_PART = 512 * 1024 ** 2;
const MAX_PARTS = 10_000;

export interface CopyInput {
  readonly bucket: string;
  readonly sourceKey: string;
  readonly destinationKey: string;
  /** Source size, from the HeadObject that preceded the copy. */
  readonly size: number;
  /** Source ETag: the copy fails if the object changed since it was verified. */
  readonly etag: string;
  /** Customer key for SSE-KMS of the copy. */
  readonly kmsKeyId: string;
  /** Parts copied at once in a multipart copy. @default 8 */
  readonly concurrency?: number;
  /** Bytes per part of a multipart copy. @default 512 MiB, or more to stay within 10,000 parts */
  readonly partSize?: number;
  /** Copies above this size go multipart. @default 5 GiB */
  readonly singleCopyLimit?: number;
}

/**
 * Copies one object inside the bucket into S3 Standard under the customer key (SSE-KMS with an S3
 * Bucket Key), pinned to the source ETag so the bytes copied are the bytes that were verified.
 */
export async function copyVerified(s3: S3Client, input: CopyInput): Promise<void> {
  const encryption = {
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: input.kmsKeyId,
    BucketKeyEnabled: true,
    StorageClass: 'STANDARD',
  } as const;
  const source = copySource(input.bucket, input.sourceKey);
  if (input.size <= (input.singleCopyLimit ?? SINGLE_COPY_LIMIT)) {
    await s3.send(
      new CopyObjectCommand({
        Bucket: input.bucket,
        Key: input.destinationKey,
        CopySource: source,
        CopySourceIfMatch: input.etag,
        MetadataDirective: 'COPY',
        ...encryption,
      }),
    );
    return;
  }
  const partSize = Math.max(input.partSize ?? MIN_PART, Math.ceil(input.size / MAX_PARTS));
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: input.bucket,
      Key: input.destinationKey,
      ...encryption,
    }),
  );
  try {
    const count = Math.ceil(input.size / partSize);
    const parts: { PartNumber: number; ETag: string }[] = new Array(count);
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < count && !failed) {
        const n = next++;
        const start = n * partSize;
        const end = Math.min(input.size, start + partSize) - 1;
        const out = await s3.send(
          new UploadPartCopyCommand({
            Bucket: input.bucket,
            Key: input.destinationKey,
            UploadId,
            PartNumber: n + 1,
            CopySource: source,
            CopySourceIfMatch: input.etag,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        parts[n] = { PartNumber: n + 1, ETag: out.CopyPartResult!.ETag! };
      }
    };
    const guarded = () =>
      worker().catch((err: unknown) => {
        failed = true; // the other workers stop taking parts
        throw err;
      });
    await Promise.all(Array.from({ length: Math.min(count, input.concurrency ?? 8) }, guarded));
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: input.bucket,
        Key: input.destinationKey,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (err) {
    try {
      await s3.send(
        new AbortMultipartUploadCommand({
          Bucket: input.bucket,
          Key: input.destinationKey,
          UploadId,
        }),
      );
    } catch {
      // The bucket's lifecycle rule aborts incomplete multipart uploads after 7 days.
    }
    throw err;
  }
}

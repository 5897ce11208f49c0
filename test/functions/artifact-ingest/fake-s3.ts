import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';

/**
 * A bucket in memory behind `aws-sdk-client-mock`: enough of S3's behaviour (404s, ranges,
 * If-Match, If-None-Match, copies, multipart copies) that the ingest code meets the same answers
 * it would from S3, while the tests read every command it sent.
 */
export interface StoredObject {
  body: Buffer;
  etag: string;
  storageClass?: string;
  encryption?: { algorithm?: string; keyId?: string };
}

export function fakeBucket(bucket: string) {
  const mock = mockClient(S3Client);
  const objects = new Map<string, StoredObject>();
  const fail = (name: string, status: number) =>
    new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status } });
  const get = (key: string) => {
    const o = objects.get(key);
    if (!o) throw fail('NotFound', 404);
    return o;
  };
  const source = (copySource: string) => {
    const prefix = `${bucket}/`;
    if (!copySource.startsWith(prefix)) throw fail('AccessDenied', 403);
    return decodeURIComponent(copySource.slice(prefix.length));
  };
  const parts = new Map<string, Buffer[]>();

  const put = (key: string, body: Buffer | string, storageClass?: string) => {
    const bytes = Buffer.from(body);
    objects.set(key, {
      body: bytes,
      etag: `"${createHash('md5').update(bytes).digest('hex')}"`,
      storageClass,
    });
  };

  const install = () => {
    mock.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
      const o = get(input.Key);
      return { ContentLength: o.body.length, ETag: o.etag, StorageClass: o.storageClass };
    });
    mock
      .on(GetObjectCommand)
      .callsFake((input: { Key: string; Range?: string; IfMatch?: string }) => {
        const o = get(input.Key);
        if (input.IfMatch && input.IfMatch !== o.etag) throw fail('PreconditionFailed', 412);
        const m = /^bytes=(\d+)-(\d+)$/.exec(input.Range ?? '');
        const bytes = m ? o.body.subarray(Number(m[1]), Number(m[2]) + 1) : o.body;
        return {
          ContentLength: bytes.length,
          ETag: o.etag,
          Body: {
            transformToByteArray: async () => new Uint8Array(bytes),
            transformToString: async () => bytes.toString('utf8'),
          },
        };
      });
    mock.on(CopyObjectCommand).callsFake((input: Record<string, string>) => {
      const o = get(source(input.CopySource!));
      if (input.CopySourceIfMatch && input.CopySourceIfMatch !== o.etag) {
        throw fail('PreconditionFailed', 412);
      }
      objects.set(input.Key!, {
        body: o.body,
        etag: o.etag,
        storageClass: input.StorageClass === 'STANDARD' ? undefined : input.StorageClass,
        encryption: { algorithm: input.ServerSideEncryption, keyId: input.SSEKMSKeyId },
      });
      return { CopyObjectResult: { ETag: o.etag } };
    });
    mock
      .on(PutObjectCommand)
      .callsFake((input: { Key: string; Body: string; IfNoneMatch?: string }) => {
        if (input.IfNoneMatch === '*' && objects.has(input.Key))
          throw fail('PreconditionFailed', 412);
        put(input.Key, input.Body);
        return { ETag: objects.get(input.Key)!.etag };
      });
    mock.on(CreateMultipartUploadCommand).callsFake((input: { Key: string }) => {
      parts.set(input.Key, []);
      return { UploadId: `upload-${input.Key}` };
    });
    mock
      .on(UploadPartCopyCommand)
      .callsFake(
        (input: {
          Key: string;
          CopySource: string;
          CopySourceRange: string;
          PartNumber: number;
          CopySourceIfMatch?: string;
        }) => {
          const o = get(source(input.CopySource));
          if (input.CopySourceIfMatch && input.CopySourceIfMatch !== o.etag) {
            throw fail('PreconditionFailed', 412);
          }
          const m = /^bytes=(\d+)-(\d+)$/.exec(input.CopySourceRange)!;
          parts.get(input.Key)![input.PartNumber - 1] = o.body.subarray(
            Number(m[1]),
            Number(m[2]) + 1,
          );
          return { CopyPartResult: { ETag: `"part-${input.PartNumber}"` } };
        },
      );
    mock.on(AbortMultipartUploadCommand).callsFake((input: { Key: string }) => {
      parts.delete(input.Key);
      return {};
    });
    mock.on(CompleteMultipartUploadCommand).callsFake((input: { Key: string }) => {
      put(input.Key, Buffer.concat(parts.get(input.Key)!));
      return {};
    });
  };
  install();

  return {
    mock,
    objects,
    put,
    client: new S3Client({ region: 'us-east-1' }),
    /** Forget every object and recorded command. */
    reset() {
      mock.reset();
      objects.clear();
      install();
    },
  };
}

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

/** Something that can hand out byte ranges of one object: S3, or a local file in the bench. */
export interface RangeSource {
  readonly size: number;
  /** Bytes `[start, end)`. */
  read(start: number, end: number): Promise<Uint8Array>;
}

export interface HashOptions {
  /** Bytes per ranged read. @default 16 MiB */
  readonly rangeSize?: number;
  /** Ranged reads in flight. Memory stays under `rangeSize × concurrency`. @default 4 */
  readonly concurrency?: number;
}

/**
 * SHA-256 of a whole object with bounded memory: ranges are fetched ahead in parallel (S3 serves
 * one GET stream at well under what a Lambda can hash) but hashed strictly in order, and at most
 * `concurrency` ranges are held at once, whatever the object's size.
 */
export async function sha256Ranged(source: RangeSource, options: HashOptions = {}) {
  const rangeSize = options.rangeSize ?? 16 * 1024 * 1024;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const hash = createHash('sha256');
  const count = Math.ceil(source.size / rangeSize);
  const inFlight: Promise<Uint8Array>[] = [];
  let next = 0;
  const fetchNext = () => {
    const start = next * rangeSize;
    inFlight.push(source.read(start, Math.min(source.size, start + rangeSize)));
    next++;
  };
  while (next < Math.min(count, concurrency)) fetchNext();
  try {
    for (let i = 0; i < count; i++) {
      const bytes = await inFlight.shift()!;
      if (next < count) fetchNext();
      hash.update(bytes);
    }
  } catch (err) {
    // Let the reads still in flight settle quietly; the first failure is the one reported.
    await Promise.allSettled(inFlight);
    throw err;
  }
  return hash.digest('hex');
}

/**
 * Ranges of one S3 object, each pinned to `etag` (`If-Match`): if the object is overwritten while
 * it is read, the read fails instead of hashing a mix of two uploads.
 */
export function s3Source(
  s3: S3Client,
  object: { bucket: string; key: string; size: number; etag: string },
): RangeSource {
  return {
    size: object.size,
    async read(start, end) {
      const out = await s3.send(
        new GetObjectCommand({
          Bucket: object.bucket,
          Key: object.key,
          IfMatch: object.etag,
          Range: `bytes=${start}-${end - 1}`,
        }),
      );
      const bytes = await out.Body!.transformToByteArray();
      if (bytes.length !== end - start) {
        throw new Error(`short read of ${object.key}: ${bytes.length} of ${end - start} bytes`);
      }
      return bytes;
    },
  };
}

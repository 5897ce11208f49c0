import {
  HeadObjectCommand,
  ListObjectsV2Command,
  RestoreObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { copyVerified } from '../../functions/artifact-ingest/copy.js';
import { archivePrefix, modelPrefix } from '../../functions/artifact-ingest/paths.js';

/**
 * Where a model version's files are, and moves between the tiers of the artifact bucket:
 * hot (S3 Standard under `models/`), warm (Standard-IA or One Zone-IA under `models/`), and
 * archive (`archive/models/`, Glacier Deep Archive after the lifecycle rule, or Glacier).
 */

export type Tier = 'hot' | 'warm' | 'archive';
export type RestoreState = 'not-needed' | 'not-started' | 'in-progress' | 'ready';

export interface TierFile {
  /** Path inside the version: `config.json`, `model-00001-of-00002.safetensors`. */
  readonly path: string;
  readonly key: string;
  readonly size: number;
  readonly storageClass: string;
  readonly tier: Tier;
  /** For archived files: whether a restored copy is available. */
  readonly restore: RestoreState;
}

export interface VersionRef {
  readonly bucket: string;
  readonly model: string;
  readonly version: string;
}

export class TierError extends Error {
  override readonly name = 'TierError';
}

const GLACIER_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);
const WARM_CLASSES = new Set(['STANDARD_IA', 'ONEZONE_IA']);

/** Every file of the version under `models/` and `archive/models/`, with its tier. */
export async function tierStatus(s3: S3Client, ref: VersionRef): Promise<TierFile[]> {
  const files: TierFile[] = [];
  for (const prefix of [
    modelPrefix(ref.model, ref.version),
    archivePrefix(ref.model, ref.version),
  ]) {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: ref.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const storageClass = o.StorageClass ?? 'STANDARD';
        const archived = prefix.startsWith('archive/');
        const tier: Tier =
          archived || GLACIER_CLASSES.has(storageClass)
            ? 'archive'
            : WARM_CLASSES.has(storageClass)
              ? 'warm'
              : 'hot';
        files.push({
          path: o.Key!.slice(prefix.length),
          key: o.Key!,
          size: o.Size ?? 0,
          storageClass,
          tier,
          restore: GLACIER_CLASSES.has(storageClass)
            ? await restoreState(s3, ref.bucket, o.Key!)
            : 'not-needed',
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return files;
}

/** `x-amz-restore`: `ongoing-request="true"` while restoring, `"false"` with an expiry after. */
async function restoreState(s3: S3Client, bucket: string, key: string): Promise<RestoreState> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (!head.Restore) return 'not-started';
  return head.Restore.includes('ongoing-request="true"') ? 'in-progress' : 'ready';
}

export interface RestoreOptions extends VersionRef {
  /** Days the restored copy stays readable. @default 7 */
  readonly days?: number;
  /** Retrieval tier. Deep Archive: Standard within 12 hours, Bulk within 48. @default 'Standard' */
  readonly tier?: 'Standard' | 'Bulk';
}

/** Hours S3 documents for restores, by storage class and retrieval tier. */
export const RESTORE_HOURS: Record<string, Record<'Standard' | 'Bulk', string>> = {
  DEEP_ARCHIVE: { Standard: 'within 12 hours', Bulk: 'within 48 hours' },
  GLACIER: { Standard: '3–5 hours', Bulk: '5–12 hours' },
};

/**
 * Starts a restore of every archived file not already restored or restoring. Safe to run again:
 * files in progress or ready are counted, not restarted, so the command doubles as progress.
 */
export async function restoreVersion(
  s3: S3Client,
  options: RestoreOptions,
): Promise<{ started: number; inProgress: number; ready: number; message: string }> {
  const tier = options.tier ?? 'Standard';
  const days = options.days ?? 7;
  if (!Number.isInteger(days) || days < 1 || days > 30) {
    throw new TierError('--days must be a whole number of days from 1 to 30.');
  }
  const files = (await tierStatus(s3, options)).filter((f) => GLACIER_CLASSES.has(f.storageClass));
  let started = 0;
  let inProgress = 0;
  let ready = 0;
  const classes = new Set<string>();
  for (const f of files) {
    classes.add(f.storageClass);
    if (f.restore === 'ready') ready++;
    else if (f.restore === 'in-progress') inProgress++;
    else {
      try {
        await s3.send(
          new RestoreObjectCommand({
            Bucket: options.bucket,
            Key: f.key,
            RestoreRequest: { Days: days, GlacierJobParameters: { Tier: tier } },
          }),
        );
        started++;
      } catch (err) {
        if (!(err instanceof S3ServiceException && err.name === 'RestoreAlreadyInProgress')) {
          throw err;
        }
        inProgress++;
      }
    }
  }
  const name = `${options.model}@${options.version}`;
  if (files.length === 0) {
    return { started, inProgress, ready, message: `${name} has no archived files to restore.` };
  }
  const hours = [...classes].map((c) => `${c} ${RESTORE_HOURS[c]![tier]}`).join(', ');
  const message =
    ready === files.length
      ? `All ${ready} archived files of ${name} are restored for ${days} days; run promote to copy them to the hot tier.`
      : `${name}: ${started} restores started, ${inProgress} in progress, ${ready} ready of ${files.length} archived files. ` +
        `A ${tier} retrieval takes ${hours}. Run this command again to check; when all are ready, run promote.`;
  return { started, inProgress, ready, message };
}

export interface PromoteOptions extends VersionRef {
  /** Customer key for SSE-KMS of the hot copies. */
  readonly kmsKeyId: string;
}

/**
 * Puts every file of the version in the hot tier: warm files are copied onto themselves in S3
 * Standard, archived files (restored first when in Glacier classes) are copied to `models/`.
 * Refuses, moving nothing, while any archived file still waits for its restore.
 */
export async function promoteVersion(
  s3: S3Client,
  options: PromoteOptions,
): Promise<{ copied: number; message: string }> {
  const files = await tierStatus(s3, options);
  const hot = new Set(files.filter((f) => f.tier === 'hot').map((f) => f.path));
  const pending = new Map<string, TierFile>();
  for (const f of files) {
    if (hot.has(f.path)) continue;
    // Prefer a warm copy under models/ over an archived one.
    if (!pending.has(f.path) || f.tier === 'warm') pending.set(f.path, f);
  }
  const waiting = [...pending.values()].filter(
    (f) => GLACIER_CLASSES.has(f.storageClass) && f.restore !== 'ready',
  );
  const name = `${options.model}@${options.version}`;
  if (waiting.length > 0) {
    throw new TierError(
      `${name}: ${waiting.length} archived files are not restored yet (${waiting
        .slice(0, 3)
        .map((f) => f.path)
        .join(
          ', ',
        )}${waiting.length > 3 ? ', …' : ''}). Run npm run artifact -- restore ${options.model} ${options.version} and promote once they are ready.`,
    );
  }
  const target = modelPrefix(options.model, options.version);
  for (const f of pending.values()) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: f.key }));
    await copyVerified(s3, {
      bucket: options.bucket,
      sourceKey: f.key,
      destinationKey: `${target}${f.path}`,
      size: f.size,
      etag: head.ETag!,
      kmsKeyId: options.kmsKeyId,
    });
  }
  const message =
    pending.size === 0
      ? `${name} is already in the hot tier (${hot.size} files).`
      : `${name}: ${pending.size} files copied to the hot tier (s3://${options.bucket}/${target}).`;
  return { copied: pending.size, message };
}

/**
 * Refuses a version unless each of `paths` sits in S3 Standard under `models/<model>/<version>/`:
 * an endpoint reading warm files pays retrieval fees on every start, and archived ones fail.
 */
export async function requireHot(
  s3: S3Client,
  ref: VersionRef & { readonly paths: readonly string[] },
): Promise<void> {
  const prefix = modelPrefix(ref.model, ref.version);
  const cold: string[] = [];
  for (const path of ref.paths) {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: prefix + path }));
      const storageClass = head.StorageClass ?? 'STANDARD';
      if (storageClass !== 'STANDARD') cold.push(`${path} (${storageClass})`);
    } catch (err) {
      if (!(err instanceof S3ServiceException && err.name === 'NotFound')) throw err;
      cold.push(`${path} (missing)`);
    }
  }
  if (cold.length > 0) {
    throw new TierError(
      `${ref.model}@${ref.version} is not in the hot tier: ${cold.length} of ${ref.paths.length} files are not in S3 Standard under ${prefix} (${cold
        .slice(0, 3)
        .join(
          ', ',
        )}${cold.length > 3 ? ', …' : ''}). Run npm run artifact -- promote ${ref.model} ${ref.version} first; the rollout does not start from a warm or archived version.`,
    );
  }
}

import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { S3EventRecord } from 'aws-lambda';
import { requireHot } from '../../tools/artifact/tiers.js';
import type { IngestConfig, IngestModel } from './config.js';
import { copyVerified } from './copy.js';
import {
  decodeEventKey,
  manifestSchema,
  MAX_MANIFEST_BYTES,
  parseManifestKey,
  type Manifest,
} from './manifest.js';
import { incomingPrefix, modelPrefix, provenancePrefix } from './paths.js';
import { registerVersion, startRollout, type Registration } from './register.js';
import { s3Source, sha256Ranged, type HashOptions } from './verify.js';

export type RejectReason =
  | 'bad-key'
  | 'unknown-model'
  | 'bad-manifest'
  | 'missing-file'
  | 'size-mismatch'
  | 'digest-mismatch';

export type IngestOutcome =
  | { outcome: 'rejected'; reason: RejectReason; detail: string }
  | { outcome: 'duplicate'; model: string; version: string }
  | {
      outcome: 'registered' | 'rolling-out' | 'rollout-refused';
      model: string;
      version: string;
      registration: Registration;
      detail?: string;
    };

export interface IngestDeps {
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
  readonly config: IngestConfig;
  /** Counts `Rejected`, `Ingested`, `Duplicate`, `RolloutRefused` (EMF in Lambda). */
  readonly metric: (name: string, reason?: string) => void;
  readonly log: (line: Record<string, unknown>) => void;
  readonly now?: () => Date;
  readonly hash?: HashOptions;
}

class Rejection extends Error {
  constructor(
    readonly reason: RejectReason,
    detail: string,
  ) {
    super(detail);
  }
}

/**
 * Ingests one `incoming/<model>/<version>/manifest.json`: verify every listed file (size, then
 * SHA-256 streamed), copy the verified bytes to the hot tier under the customer key, register the
 * version with SageMaker, then write the provenance record with `If-None-Match: *`. That write is
 * the commit point: one delivery wins it and only that one starts the rollout; a later delivery
 * finds the record and stops. Everything before it is safe to repeat (same bytes, same names).
 */
export async function ingestRecord(
  deps: IngestDeps,
  record: S3EventRecord,
): Promise<IngestOutcome> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const { bucket, kmsKeyArn } = deps.config;
  const key = decodeEventKey(record.s3.object.key);
  const parsed = parseManifestKey(key);
  if (!parsed)
    return reject(deps, undefined, new Rejection('bad-key', `not a manifest key: ${key}`));
  const model = deps.config.models.find((m) => m.slug === parsed.slug);
  const version = parsed.version;
  const at = { slug: parsed.slug, version, record, started };
  if (!model) {
    return reject(deps, at, new Rejection('unknown-model', `no model deploys from ${parsed.slug}`));
  }
  const recordKey = `${provenancePrefix(model.id, version)}provenance.json`;
  if (await exists(deps.s3, bucket, recordKey)) {
    deps.metric('Duplicate');
    deps.log({ message: 'already ingested', model: model.id, version });
    return { outcome: 'duplicate', model: model.id, version };
  }

  let manifest: Manifest;
  const verified: { path: string; size: number; sha256: string; etag: string }[] = [];
  try {
    manifest = await readManifest(deps.s3, bucket, key, record.s3.object.versionId);
    const incoming = incomingPrefix(model.id, version);
    const heads = [];
    for (const file of manifest.files) {
      const head = await headOrUndefined(deps.s3, bucket, incoming + file.path);
      if (!head) throw new Rejection('missing-file', `${file.path} is not under ${incoming}`);
      if (head.size !== file.size) {
        throw new Rejection(
          'size-mismatch',
          `${file.path} is ${head.size} bytes, the manifest says ${file.size}`,
        );
      }
      heads.push({ ...file, etag: head.etag });
    }
    for (const file of heads) {
      const source = s3Source(deps.s3, { bucket, key: incoming + file.path, ...file });
      const digest = await sha256Ranged(source, deps.hash);
      if (digest !== file.sha256) {
        throw new Rejection(
          'digest-mismatch',
          `${file.path} has SHA-256 ${digest}, the manifest says ${file.sha256}`,
        );
      }
      verified.push(file);
    }
  } catch (err) {
    if (err instanceof Rejection) return reject(deps, { ...at, slug: model.id }, err);
    throw err;
  }
  const verifiedAt = now();

  const hot = modelPrefix(model.id, version);
  for (const file of verified) {
    await copyVerified(deps.s3, {
      bucket,
      sourceKey: incomingPrefix(model.id, version) + file.path,
      destinationKey: hot + file.path,
      size: file.size,
      etag: file.etag,
      kmsKeyId: kmsKeyArn,
    });
  }
  const copiedAt = now();

  const registration = await registerVersion(deps.sagemaker, {
    model,
    version,
    modelDataUrl: `s3://${bucket}/${hot}`,
    executionRoleArn: deps.config.executionRoleArn,
    tags: { 'sluice:model': model.id, 'sluice:version': version },
  });
  const provenance = {
    model: model.id,
    version,
    manifest: { key, versionId: record.s3.object.versionId, etag: record.s3.object.eTag },
    files: verified.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    destination: `s3://${bucket}/${hot}`,
    encryption: { algorithm: 'aws:kms', kmsKeyArn, bucketKey: true },
    uploader: uploader(record),
    times: {
      uploaded: record.eventTime,
      started: started.toISOString(),
      verified: verifiedAt.toISOString(),
      copied: copiedAt.toISOString(),
      registered: now().toISOString(),
    },
    registration,
    rollout: model.rollout,
  };
  try {
    await putRecord(deps, recordKey, provenance, { IfNoneMatch: '*' });
  } catch (err) {
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412) {
      deps.metric('Duplicate');
      deps.log({
        message: 'another delivery recorded this version first',
        model: model.id,
        version,
      });
      return { outcome: 'duplicate', model: model.id, version };
    }
    throw err;
  }
  deps.metric('Ingested');
  deps.log({ message: 'ingested', model: model.id, version, files: verified.length });
  if (model.rollout !== 'canary') {
    return { outcome: 'registered', model: model.id, version, registration };
  }
  return rollout(deps, { model, version, manifest: manifest!, registration });
}

async function rollout(
  deps: IngestDeps,
  input: { model: IngestModel; version: string; manifest: Manifest; registration: Registration },
): Promise<IngestOutcome> {
  const { model, version, registration } = input;
  const base = { model: model.id, version, registration };
  try {
    await requireHot(deps.s3, {
      bucket: deps.config.bucket,
      model: model.id,
      version,
      paths: input.manifest.files.map((f) => f.path),
    });
    await startRollout(deps.sagemaker, registration);
  } catch (err) {
    if (!(err instanceof Error) || !/^(TierError|RolloutRefused)$/.test(err.name)) throw err;
    deps.metric('RolloutRefused');
    await putRecord(deps, `${provenancePrefix(model.id, version)}rollout.json`, {
      ...base,
      outcome: 'refused',
      detail: err.message,
    });
    return { outcome: 'rollout-refused', ...base, detail: err.message };
  }
  await putRecord(deps, `${provenancePrefix(model.id, version)}rollout.json`, {
    ...base,
    outcome: 'started',
    at: (deps.now ?? (() => new Date()))().toISOString(),
  });
  return { outcome: 'rolling-out', ...base };
}

async function reject(
  deps: IngestDeps,
  at: { slug: string; version: string; record: S3EventRecord; started: Date } | undefined,
  rejection: Rejection,
): Promise<IngestOutcome> {
  deps.metric('Rejected', rejection.reason);
  deps.log({ message: 'rejected', reason: rejection.reason, detail: rejection.message });
  if (at) {
    const time = at.started.toISOString();
    await putRecord(deps, `${provenancePrefix(at.slug, at.version)}rejected-${time}.json`, {
      model: at.slug,
      version: at.version,
      reason: rejection.reason,
      detail: rejection.message,
      manifest: {
        key: decodeEventKey(at.record.s3.object.key),
        versionId: at.record.s3.object.versionId,
      },
      uploader: uploader(at.record),
      times: { uploaded: at.record.eventTime, rejected: time },
    });
  }
  return { outcome: 'rejected', reason: rejection.reason, detail: rejection.message };
}

function uploader(record: S3EventRecord) {
  return {
    principalId: record.userIdentity?.principalId,
    sourceIp: record.requestParameters?.sourceIPAddress,
  };
}

async function putRecord(
  deps: IngestDeps,
  key: string,
  body: unknown,
  extra: { IfNoneMatch?: string } = {},
): Promise<void> {
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.config.bucket,
      Key: key,
      Body: JSON.stringify(body, null, 2),
      ContentType: 'application/json',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: deps.config.kmsKeyArn,
      BucketKeyEnabled: true,
      ...extra,
    }),
  );
}

async function readManifest(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId: string | undefined,
): Promise<Manifest> {
  const out = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  if ((out.ContentLength ?? 0) > MAX_MANIFEST_BYTES) {
    await out.Body?.transformToByteArray().catch(() => undefined);
    throw new Rejection('bad-manifest', `manifest is over ${MAX_MANIFEST_BYTES} bytes`);
  }
  const text = await out.Body!.transformToString();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Rejection('bad-manifest', 'manifest is not JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Rejection('bad-manifest', `manifest ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

async function headOrUndefined(s3: S3Client, bucket: string, key: string) {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: head.ContentLength ?? 0, etag: head.ETag! };
  } catch (err) {
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return undefined;
    throw err;
  }
}

async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  return (await headOrUndefined(s3, bucket, key)) !== undefined;
}

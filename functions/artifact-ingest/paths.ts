/**
 * Where a model version's objects live in the artifact bucket. One rule for the ingest function,
 * the artifact CLI and the CDK app (`ArtifactStore.modelPrefix` calls `modelPrefix`).
 *
 * - `incoming/<model>/<version>/`: uploads, with `manifest.json` last (its arrival starts ingest);
 * - `models/<model>/<version>/`: the hot tier endpoints load from (verified copies only);
 * - `archive/models/<model>/<version>/`: versions parked in Deep Archive;
 * - `provenance/<model>/<version>/`: the provenance record, rejections and rollout outcomes.
 */

/** A model id as it appears in S3 keys: characters outside `[A-Za-z0-9._-]` become `-`. */
export function modelSlug(modelId: string): string {
  return modelId.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** Model versions: the same pattern the deployment config accepts. */
export const VERSION_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function modelPrefix(modelId: string, version: string): string {
  return `models/${modelSlug(modelId)}/${version}/`;
}

export function incomingPrefix(modelId: string, version: string): string {
  return `incoming/${modelSlug(modelId)}/${version}/`;
}

export function archivePrefix(modelId: string, version: string): string {
  return `archive/${modelPrefix(modelId, version)}`;
}

export function provenancePrefix(modelId: string, version: string): string {
  return `provenance/${modelSlug(modelId)}/${version}/`;
}

/** The manifest's name under `incoming/<model>/<version>/`; its upload starts ingest. */
export const MANIFEST_FILE = 'manifest.json';

/** `CopySource` for S3: the bucket and the URL-encoded key, slashes kept. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

import { z } from 'zod';
import { MANIFEST_FILE, VERSION_PATTERN } from './paths.js';

/** Largest manifest read: a listing of files, never the weights themselves. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** A path inside the version: relative, no `..`, no empty or dot segments. */
const relativePath = z
  .string()
  .min(1)
  .max(512)
  .refine(
    (p) => p.split('/').every((s) => s !== '' && s !== '.' && s !== '..') && p !== MANIFEST_FILE,
    'must be a relative path inside the version (no leading /, no . or .. segments), not the manifest',
  );

/**
 * `incoming/<model>/<version>/manifest.json`: every file of the version with its size in bytes
 * and its SHA-256 in hex. Uploaders write the files first and the manifest last.
 *
 * @example { "files": [{ "path": "config.json", "size": 714, "sha256": "9f86d0…" }] }
 */
export const manifestSchema = z.strictObject({
  files: z
    .array(
      z.strictObject({
        path: relativePath,
        size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, 'must be a SHA-256 in hex (64 characters)')
          .transform((h) => h.toLowerCase()),
      }),
    )
    .min(1)
    .max(10_000)
    .refine((files) => new Set(files.map((f) => f.path)).size === files.length, {
      message: 'lists a path twice',
    }),
});

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestFile = Manifest['files'][number];

/** `incoming/<slug>/<version>/manifest.json` → slug and version; undefined for any other key. */
export function parseManifestKey(key: string): { slug: string; version: string } | undefined {
  const match = /^incoming\/([A-Za-z0-9._-]{1,128})\/([^/]+)\/manifest\.json$/.exec(key);
  if (!match || !VERSION_PATTERN.test(match[2]!)) return undefined;
  return { slug: match[1]!, version: match[2]! };
}

/** S3 event keys are URL-encoded with `+` for spaces. */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

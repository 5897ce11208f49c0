import { z } from 'zod';

const modelCommon = {
  /** The model id clients use. */
  id: z.string().min(1),
  /** The id as it appears in S3 keys (`modelSlug(id)`). */
  slug: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/),
  /** Container image of the model's kind. */
  image: z.string().min(1),
  environment: z.record(z.string(), z.string()),
  /** After registering: stop (`registered`), or start the guarded rollout (`canary`). */
  rollout: z.enum(['registered', 'canary']),
};

export const ingestModelSchema = z.discriminatedUnion('hosting', [
  z.strictObject({ ...modelCommon, hosting: z.literal('endpoint'), endpointName: z.string() }),
  z.strictObject({ ...modelCommon, hosting: z.literal('component'), componentName: z.string() }),
]);
export type IngestModel = z.output<typeof ingestModelSchema>;

/** What the CDK app tells the ingest function (`SLUICE_INGEST_CONFIG`, JSON). */
export const ingestConfigSchema = z.strictObject({
  bucket: z.string().min(3),
  /** ARN of the customer key: SSE-KMS of the hot copies and the records. */
  kmsKeyArn: z.string().startsWith('arn:'),
  /** Role SageMaker assumes for ingested versions (reads `models/<model>/*` of these models). */
  executionRoleArn: z.string().startsWith('arn:'),
  models: z.array(ingestModelSchema),
});
export type IngestConfig = z.output<typeof ingestConfigSchema>;

/** Parses the environment once at cold start; a bad value names the field. */
export function ingestConfigFromEnv(env: Readonly<Record<string, string | undefined>>) {
  const raw = env.SLUICE_INGEST_CONFIG;
  if (!raw)
    throw new Error('SLUICE_INGEST_CONFIG is not set: deploy the function with the CDK app');
  const parsed = ingestConfigSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) {
    throw new Error(`SLUICE_INGEST_CONFIG: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { ArtifactStore } from '../../../cdk/constructs/artifact-store.js';
import type { SluiceConfig } from '../../../cdk/config/schema.js';
import { errorName } from '../errors.js';
import type { Check, CheckResult, PreflightContext } from '../types.js';

/** A model version the endpoints load: its S3 prefix and who serves it. */
export interface ArtifactNeed {
  readonly prefix: string;
  readonly servedBy: string;
}

/** Every model version the config deploys (a variant may pin its own), once each. */
export function artifactNeeds(config: SluiceConfig): ArtifactNeed[] {
  const needs = new Map<string, string[]>();
  const add = (id: string, version: string, by: string): void => {
    const prefix = ArtifactStore.modelPrefix(id, version);
    needs.set(prefix, [...(needs.get(prefix) ?? []), by]);
  };
  for (const m of config.models) {
    if (m.hosting === 'component') add(m.id, m.version, m.inferenceComponent.name);
    else
      for (const v of m.variants) add(m.id, v.version ?? m.version, `${m.endpointName}/${v.name}`);
  }
  return [...needs].map(([prefix, by]) => ({ prefix, servedBy: by.join(', ') }));
}

/**
 * What a Hugging Face model directory needs for LMI (vLLM) and TEI to start from /opt/ml/model:
 * the model config, a tokenizer and weights.
 */
export const MODEL_FILES: readonly { name: string; test: (file: string) => boolean }[] = [
  { name: 'config.json', test: (f) => f === 'config.json' },
  { name: 'tokenizer.json or tokenizer.model', test: (f) => /^tokenizer\.(json|model)$/.test(f) },
  { name: '*.safetensors or *.bin weights', test: (f) => /\.(safetensors|bin)$/.test(f) },
];

/** The data stack's name: the app builds it as `<prefix>Data`. */
const dataStackName = (config: SluiceConfig): string => `${config.prefix}Data`;

/** Bound on the keys read per prefix: a model directory holds tens of files, not thousands. */
const MAX_PAGES = 5;

/**
 * The artifact bucket holds every model version the config names. The bucket is created by the
 * data stack, so before that stack exists there is nothing to check and the rows say so.
 */
export const artifactsCheck: Check = {
  id: 'artifacts',
  permissions: ['cloudformation:DescribeStacks', 's3:ListBucket'],

  plan: ({ config }) =>
    artifactNeeds(config).map(
      (n) =>
        `S3 (${config.region}): s3://<artifact bucket of ${dataStackName(config)}>/${n.prefix} holds ${MODEL_FILES.map((f) => f.name).join(', ')} (${n.servedBy})`,
    ),

  async run(ctx) {
    const { config } = ctx;
    const bucket = await artifactBucket(ctx);
    const needs = artifactNeeds(config);
    if (!bucket) {
      return needs.map((n) => ({
        check: 'artifacts',
        subject: n.prefix,
        status: 'skip',
        detail: `the bucket is created by the ${dataStackName(config)} stack, which is not deployed yet`,
        fix: `Deploy it first (npx cdk deploy ${dataStackName(config)}), upload the model to s3://<bucket>/${n.prefix}, then run preflight again before deploying the rest.`,
      }));
    }
    return Promise.all(needs.map((n) => checkPrefix(ctx, bucket, n)));
  },
};

async function artifactBucket(ctx: PreflightContext): Promise<string | undefined> {
  try {
    const out = await ctx.clients
      .cloudFormation(ctx.config.region)
      .send(new DescribeStacksCommand({ StackName: dataStackName(ctx.config) }));
    const arn = out.Stacks?.[0]?.Outputs?.find(
      (o) => o.OutputKey === 'ArtifactsBucketArn',
    )?.OutputValue;
    return arn?.split(':::')[1];
  } catch (err) {
    if (errorName(err) === 'ValidationError') return undefined;
    throw err;
  }
}

async function checkPrefix(
  ctx: PreflightContext,
  bucket: string,
  need: ArtifactNeed,
): Promise<CheckResult> {
  const files: string[] = [];
  let pages = 0;
  const listing = paginateListObjectsV2(
    { client: ctx.clients.s3(ctx.config.region), pageSize: 1000 },
    { Bucket: bucket, Prefix: need.prefix },
  );
  for await (const page of listing) {
    for (const o of page.Contents ?? []) if (o.Key) files.push(o.Key.slice(need.prefix.length));
    if (++pages >= MAX_PAGES) break;
  }
  const missing = MODEL_FILES.filter((f) => !files.some(f.test)).map((f) => f.name);
  const base = { check: 'artifacts', subject: need.prefix };
  const where = `s3://${bucket}/${need.prefix}`;
  if (missing.length === 0) {
    return {
      ...base,
      status: 'pass',
      detail: `${files.length} files in bucket ${bucket} (${need.servedBy})`,
    };
  }
  return {
    ...base,
    status: 'fail',
    detail: `${where} lacks ${missing.join(', ')} (${files.length} files; ${need.servedBy})`,
    fix: `Upload the model directory: aws s3 sync <local model dir> ${where}`,
  };
}

import { BatchGetImageCommand } from '@aws-sdk/client-ecr';
import { containerImageUri } from '../../../cdk/config/images.js';
import type { SluiceConfig } from '../../../cdk/config/schema.js';
import { errorMessage, errorName, isAccessDenied } from '../errors.js';
import type { Check, CheckResult, PreflightContext } from '../types.js';

/** A container image the endpoints would pull, parsed from the URI the CDK app builds. */
export interface ImageNeed {
  readonly uri: string;
  readonly registryId: string;
  readonly repository: string;
  readonly tag: string;
  readonly models: string[];
}

/**
 * Every distinct image of the configured models in the region, from `containerImageUri` (the
 * function the constructs call). A region with no known registry is returned as an error.
 */
export function imageNeeds(config: SluiceConfig): { images: ImageNeed[]; errors: string[] } {
  const images = new Map<string, ImageNeed>();
  const errors: string[] = [];
  for (const model of config.models) {
    let uri: string;
    try {
      uri = containerImageUri(model, config.region);
    } catch (err) {
      errors.push(`${model.id}: ${errorMessage(err)}`);
      continue;
    }
    const match = /^(\d{12})\.dkr\.ecr\.[^/]+\/([^:]+):(.+)$/.exec(uri);
    if (!match) throw new Error(`unexpected image URI ${uri}`);
    const seen = images.get(uri);
    if (seen) seen.models.push(model.id);
    else {
      images.set(uri, {
        uri,
        registryId: match[1]!,
        repository: match[2]!,
        tag: match[3]!,
        models: [model.id],
      });
    }
  }
  return { images: [...images.values()], errors };
}

/**
 * The container images resolve in the region: ECR `BatchGetImage` on the AWS Deep Learning
 * Containers registry finds the tag. The registry belongs to AWS; where its policy does not let
 * this account read the manifest, the row says the image could not be verified.
 */
export const imagesCheck: Check = {
  id: 'images',
  permissions: ['ecr:BatchGetImage'],

  plan: ({ config }) => {
    const { images, errors } = imageNeeds(config);
    return [
      ...images.map((i) => `ECR (${config.region}): ${i.uri} exists (${i.models.join(', ')})`),
      ...errors.map((e) => `no image for ${e}`),
    ];
  },

  async run(ctx) {
    const { images, errors } = imageNeeds(ctx.config);
    const unknown = errors.map((e): CheckResult => ({
      check: 'images',
      subject: ctx.config.region,
      status: 'fail',
      detail: e,
      fix: 'Choose a region listed in cdk/config/images.ts, or add the registry account AWS publishes for the region.',
    }));
    return [...unknown, ...(await Promise.all(images.map((i) => checkImage(ctx, i))))];
  },
};

async function checkImage(ctx: PreflightContext, image: ImageNeed): Promise<CheckResult> {
  const base = { check: 'images', subject: `${image.repository}:${image.tag}` };
  const by = image.models.join(', ');
  const where = `${image.registryId} (${ctx.config.region})`;
  const retag = `Set imageTag on ${by} to a tag AWS publishes in ${ctx.config.region} (the Deep Learning Containers "available images" list), or update the pin in cdk/config/images.ts.`;
  try {
    const out = await ctx.clients.ecr(ctx.config.region).send(
      new BatchGetImageCommand({
        registryId: image.registryId,
        repositoryName: image.repository,
        imageIds: [{ imageTag: image.tag }],
      }),
    );
    if ((out.images ?? []).length > 0) {
      return { ...base, status: 'pass', detail: `in registry ${where} (${by})` };
    }
    const failure = out.failures?.[0];
    return {
      ...base,
      status: 'fail',
      detail: `${failure?.failureCode ?? 'not found'} in registry ${where}${failure?.failureReason ? `: ${failure.failureReason}` : ''}`,
      fix: retag,
    };
  } catch (err) {
    if (isAccessDenied(err)) {
      return {
        ...base,
        status: 'unverified',
        detail: `registry ${where} did not let these credentials read it (${errorName(err)})`,
        fix: `To check, allow ecr:BatchGetImage on arn:aws:ecr:${ctx.config.region}:${image.registryId}:repository/${image.repository}. SageMaker pulls with the model's execution role (the stack grants it), so this denial alone does not stop the deploy, but the tag stays unchecked.`,
      };
    }
    if (['RepositoryNotFoundException', 'ImageNotFoundException'].includes(errorName(err))) {
      return {
        ...base,
        status: 'fail',
        detail: `registry ${where}: ${errorMessage(err)}`,
        fix: retag,
      };
    }
    throw err;
  }
}

import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { containerEnvironment } from '../../../cdk/config/images.js';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { variantModels, type SluiceConfigInput } from '../../../cdk/config/schema.js';
import { InferenceEndpoint } from '../../../cdk/constructs/inference-endpoint.js';

const ZONES = ['us-east-1a', 'us-east-1b'];
const distill70 = (
  variants: SluiceConfigInput['models'] extends (infer M)[] | undefined ? M : never,
) => variants;

function endpointTemplate(input: SluiceConfigInput): Template {
  const config = parseSluiceConfig({ availabilityZones: ZONES, ...input });
  const stack = new Stack(new App(), 'Endpoint', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  new InferenceEndpoint(stack, 'Model', {
    model: variantModels(config.models)[0]!,
    artifacts: s3.Bucket.fromBucketName(stack, 'Artifacts', 'artifacts'),
    key: kms.Key.fromKeyArn(
      stack,
      'Key',
      'arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000',
    ),
    canary: config.canary,
    thresholds: config.alarms,
    topic: sns.Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:us-east-1:111111111111:alarms'),
  });
  return Template.fromStack(stack);
}

const model70b = (instanceTypes: string[], precision = 'bf16') =>
  distill70({
    id: 'deepseek-r1-distill-llama-70b',
    endpointName: 'sluice-deepseek-70b',
    kind: 'chat',
    profile: {
      architecture: 'deepseek-r1-distill-llama-70b',
      precision: precision as 'bf16',
      maxModelLen: 8192,
      concurrency: 4,
    },
    variants: instanceTypes.map((instanceType, n) => ({
      name: `v${n}`,
      instanceType: instanceType as 'ml.p4d.24xlarge',
      initialWeight: n === 0 ? 100 : 0,
    })),
  });

describe('container settings derived from the profile', { timeout: 90_000 }, () => {
  it('fits the default config and runs its 8B distill with the profile’s LMI settings', () => {
    const t = endpointTemplate({});
    t.resourceCountIs('AWS::SageMaker::Model', 1);
    t.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: Match.objectLike({
        Environment: Match.objectLike({
          OPTION_ROLLING_BATCH: 'vllm',
          OPTION_TENSOR_PARALLEL_DEGREE: '1',
          OPTION_MAX_MODEL_LEN: '8192',
          OPTION_MAX_ROLLING_BATCH_SIZE: '4',
          OPTION_GPU_MEMORY_UTILIZATION: '0.9',
        }),
      }),
    });
    const env = JSON.stringify(t.findResources('AWS::SageMaker::Model'));
    expect(env).not.toContain('"max"');
    expect(env).not.toContain('OPTION_QUANTIZE');
  });

  it('gives variants on different GPU classes their own Model with their own tensor-parallel degree', () => {
    const t = endpointTemplate({ models: [model70b(['ml.g6e.12xlarge', 'ml.p4d.24xlarge'])] });
    t.resourceCountIs('AWS::SageMaker::Model', 2);
    const degrees = Object.values(t.findResources('AWS::SageMaker::Model')).map(
      (m) =>
        (m as { Properties: { PrimaryContainer: { Environment: Record<string, string> } } })
          .Properties.PrimaryContainer.Environment.OPTION_TENSOR_PARALLEL_DEGREE,
    );
    expect(degrees.sort()).toEqual(['4', '8']);
    const variants = Object.values(t.findResources('AWS::SageMaker::EndpointConfig'))[0] as {
      Properties: { ProductionVariants: Array<{ ModelName: { 'Fn::GetAtt': [string, string] } }> };
    };
    const [g6e, p4d] = variants.Properties.ProductionVariants.map(
      (v) => v.ModelName['Fn::GetAtt'][0],
    );
    expect(g6e).not.toBe(p4d);
  });

  it('sets LMI runtime quantization only when the profile asks for it', () => {
    const config = parseSluiceConfig({
      availabilityZones: ZONES,
      models: [
        {
          ...model70b(['ml.g6e.12xlarge'], 'fp8'),
          profile: {
            architecture: 'deepseek-r1-distill-llama-70b',
            precision: 'fp8',
            quantizeAtLoad: true,
            maxModelLen: 8192,
            concurrency: 4,
          },
        },
      ],
    });
    const m = variantModels(config.models)[0]!;
    expect(containerEnvironment(m, { instanceType: 'ml.g6e.12xlarge' })).toMatchObject({
      OPTION_QUANTIZE: 'fp8',
      OPTION_TENSOR_PARALLEL_DEGREE: '2',
    });
  });

  it('refuses a variant the model does not fit, naming the variant and what would fit', () => {
    expect(() =>
      parseSluiceConfig({ availabilityZones: ZONES, models: [model70b(['ml.g5.12xlarge'])] }),
    ).toThrow(
      /deepseek-r1-distill-llama-70b: needs 150 GiB; ml\.g5\.12xlarge has 96 GiB .*: use int8 or awq-int4, or ml\.g6e\.12xlarge\n.*models\[0\]\.variants\[0\]\.instanceType/,
    );
    expect(() =>
      parseSluiceConfig({
        availabilityZones: ZONES,
        models: [model70b(['ml.p4d.24xlarge'], 'fp8')],
      }),
    ).toThrow(/fp8 needs FP8 tensor cores \(Ada or Hopper\); ml\.p4d\.24xlarge has A100 40GB/);
  });

  it('refuses an inference component whose GPUs are too few for its profile', () => {
    expect(() =>
      parseSluiceConfig({
        availabilityZones: ZONES,
        sharedEndpoints: [{ name: 'shared', instanceType: 'ml.g5.12xlarge' }],
        models: [
          {
            id: 'big',
            kind: 'chat',
            profile: {
              architecture: 'deepseek-r1-distill-llama-70b',
              precision: 'awq-int4',
              maxModelLen: 8192,
              concurrency: 4,
            },
            inferenceComponent: {
              endpoint: 'shared',
              name: 'big',
              acceleratorDevices: 2,
              minMemoryMb: 1024,
            },
          },
        ],
      }),
    ).toThrow(
      /ml\.g5\.12xlarge has 48 GiB on the 2 GPUs a copy gets .*: use acceleratorDevices 4\n.*models\[0\]\.inferenceComponent\.acceleratorDevices/,
    );
  });
});

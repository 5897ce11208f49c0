import { describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../../shared/config/schema.js';
import { gatewayCatalogue } from '../../cdk/config/gateway-catalogue.js';
import { containerEnvironment, containerImageUri } from '../../cdk/config/images.js';
import { parseSluiceConfig } from '../../cdk/config/load.js';
import type { SluiceConfigInput } from '../../cdk/config/schema.js';

/** A shared ml.g5.12xlarge (4 GPUs) and components of `gpus` GPUs each, one copy to start. */
function shared(
  components: Record<string, unknown>[],
  endpoint: Record<string, unknown> = {},
): SluiceConfigInput {
  return {
    sharedEndpoints: [{ name: 'shared', instanceType: 'ml.g5.12xlarge', ...endpoint }],
    models: components.map((c, n) => ({
      id: `m${n}`,
      kind: 'chat',
      inferenceComponent: {
        endpoint: 'shared',
        name: `c${n}`,
        acceleratorDevices: 1,
        minMemoryMb: 1024,
        ...c,
      },
    })) as SluiceConfigInput['models'],
  };
}

describe('deployment config', () => {
  it('fills every field from defaults so synth needs no context', () => {
    const config = parseSluiceConfig({});
    expect(config.account).toBe('111111111111');
    expect(config.edge.tlsPolicy).toBe('TLSv1.3_2025');
    expect(config.canary.percentage).toBe(5);
    expect(config.alarms.gpuUtilizationPercent).toBe(90);
  });

  it('rejects variant weights that do not sum to 100, naming the field', () => {
    expect(() =>
      parseSluiceConfig({
        models: [
          {
            id: 'm',
            endpointName: 'm',
            kind: 'chat',
            variants: [{ name: 'g5', instanceType: 'ml.g5.xlarge', initialWeight: 60 }],
          },
        ],
      }),
    ).toThrow(/sum to 100/);
  });

  it('rejects upper-case endpoint names, which SageMaker lower-cases in ARNs', () => {
    expect(() =>
      parseSluiceConfig({
        models: [
          {
            id: 'm',
            endpointName: 'Big',
            kind: 'chat',
            variants: [{ name: 'g5', instanceType: 'ml.g5.xlarge' }],
          },
        ],
      }),
    ).toThrow(/lower-case/);
  });

  it('builds a gateway catalogue the gateway schema accepts', () => {
    const catalogue = gatewayConfigSchema.parse(gatewayCatalogue(parseSluiceConfig({})));
    expect(catalogue.models[0]!.targets).toEqual([
      { id: 'default', endpoint: 'sluice-deepseek-8b', weight: 100 },
    ]);
    expect(catalogue.models[1]).toMatchObject({
      kind: 'embedding',
      policy: 'batch',
      format: 'tei',
    });
  });

  it('refuses an environment that moves HF_MODEL_ID away from the model directory, naming the field', () => {
    const model = (environment: Record<string, string>) => ({
      models: [
        {
          id: 'bge',
          endpointName: 'bge',
          kind: 'embedding' as const,
          environment,
          variants: [{ name: 'g5', instanceType: 'ml.g5.xlarge' as const }],
        },
      ],
    });
    expect(() => parseSluiceConfig(model({ HF_MODEL_ID: 'BAAI/bge-large-en-v1.5' }))).toThrow(
      /HF_MODEL_ID must be \/opt\/ml\/model on TEI[\s\S]*models\[0\]\.environment/,
    );
    expect(() => parseSluiceConfig(model({ HF_MODEL_ID: '' }))).toThrow(/HF_MODEL_ID must be/);
    expect(() => parseSluiceConfig(model({ HF_MODEL_ID: '/opt/ml/model' }))).not.toThrow();
    expect(containerEnvironment({ kind: 'embedding', environment: {} })).toMatchObject({
      HF_MODEL_ID: '/opt/ml/model',
    });
    expect(containerEnvironment({ kind: 'chat', environment: {} })).toMatchObject({
      HF_MODEL_ID: '/opt/ml/model',
    });
  });

  it('refuses a time-to-first-token threshold at or below the queue-wait one, naming the field', () => {
    expect(() => parseSluiceConfig({ alarms: { ttftP99Ms: 2000, queueWaitP99Ms: 2000 } })).toThrow(
      /ttftP99Ms must exceed queueWaitP99Ms[\s\S]*alarms\.ttftP99Ms/,
    );
    expect(parseSluiceConfig({}).alarms).toMatchObject({ ttftP99Ms: 5000, tpotP99Ms: 250 });
  });

  it('picks the regional DLC registry and refuses unknown regions', () => {
    expect(containerImageUri({ kind: 'embedding', imageTag: undefined }, 'eu-west-1')).toMatch(
      /^141502667606\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/tei:/,
    );
    expect(() => containerImageUri({ kind: 'chat', imageTag: undefined }, 'xx-nowhere-1')).toThrow(
      /No djl-inference/,
    );
  });

  it('rejects components whose initial copies need more GPUs than the instances have, naming the field', () => {
    expect(() =>
      parseSluiceConfig(shared([{ acceleratorDevices: 2 }, { acceleratorDevices: 2 }])),
    ).not.toThrow();
    expect(() =>
      parseSluiceConfig(
        shared([{ acceleratorDevices: 2 }, { acceleratorDevices: 2 }, { acceleratorDevices: 1 }]),
      ),
    ).toThrow(
      /need 5\+ GPUs at initialCopies; 1 × ml\.g5\.12xlarge has 4[\s\S]*models\[2\]\.inferenceComponent\.acceleratorDevices/,
    );
  });

  it('rejects components whose largest copy counts overflow the largest fleet', () => {
    expect(() =>
      parseSluiceConfig(shared([{ acceleratorDevices: 2, maxCopies: 3 }], { maxInstanceCount: 1 })),
    ).toThrow(/need 6\+ GPUs at maxCopies; 1 × ml\.g5\.12xlarge has 4/);
    expect(() =>
      parseSluiceConfig(shared([{ acceleratorDevices: 2, maxCopies: 4 }], { maxInstanceCount: 2 })),
    ).not.toThrow();
  });

  it('rejects a copy that needs more GPUs than one instance has', () => {
    expect(() => parseSluiceConfig(shared([{ acceleratorDevices: 8 }]))).toThrow(
      /one copy needs 8 GPUs; ml\.g5\.12xlarge has 4[\s\S]*models\[0\]\.inferenceComponent\.acceleratorDevices/,
    );
  });

  it('allows zero copies only with scaleToZero, and zero instances only when every component scales to zero', () => {
    expect(() => parseSluiceConfig(shared([{ minCopies: 0 }]))).toThrow(/set scaleToZero: true/);
    expect(() => parseSluiceConfig(shared([{ minCopies: 0, scaleToZero: true }]))).not.toThrow();
    expect(() => parseSluiceConfig(shared([{ scaleToZero: true }]))).toThrow(
      /scaleToZero needs minCopies: 0/,
    );
    expect(() =>
      parseSluiceConfig(shared([{ minCopies: 0, scaleToZero: true }, {}], { minInstanceCount: 0 })),
    ).toThrow(/minInstanceCount 0 needs every component on shared to set scaleToZero/);
    expect(() =>
      parseSluiceConfig(shared([{ minCopies: 0, scaleToZero: true }], { minInstanceCount: 0 })),
    ).not.toThrow();
  });

  it('rejects a component on an undeclared endpoint, a component with variants, and a shared endpoint without components', () => {
    expect(() => parseSluiceConfig(shared([{ endpoint: 'elsewhere' }]))).toThrow(
      /no shared endpoint named elsewhere/,
    );
    const withVariants = shared([{}]);
    (withVariants.models![0] as Record<string, unknown>).variants = [
      { name: 'g5', instanceType: 'ml.g5.xlarge' },
    ];
    expect(() => parseSluiceConfig(withVariants)).toThrow(
      /variants belongs to models on their own endpoint/,
    );
    expect(() =>
      parseSluiceConfig({
        ...shared([{}]),
        sharedEndpoints: [
          { name: 'shared', instanceType: 'ml.g5.12xlarge' },
          { name: 'idle', instanceType: 'ml.g5.xlarge' },
        ],
      }),
    ).toThrow(/no model runs on shared endpoint idle/);
  });

  it('refuses tool-call and reasoning parsers on the pinned LMI image, which predates them', () => {
    const m = shared([{}]);
    (m.models![0] as Record<string, unknown>).reasoningParser = 'deepseek_r1';
    expect(() => parseSluiceConfig(m)).toThrow(/set imageTag/);
    (m.models![0] as Record<string, unknown>).imageTag = '0.33.0-lmi15.0.0-cu128';
    expect(parseSluiceConfig(m).models[0]).toMatchObject({ reasoningParser: 'deepseek_r1' });
  });
});

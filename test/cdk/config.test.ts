import { describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../../shared/config/schema.js';
import { gatewayCatalogue } from '../../cdk/config/gateway-catalogue.js';
import { containerImageUri } from '../../cdk/config/images.js';
import { parseSluiceConfig } from '../../cdk/config/load.js';

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

  it('picks the regional DLC registry and refuses unknown regions', () => {
    expect(containerImageUri({ kind: 'embedding', imageTag: undefined }, 'eu-west-1')).toMatch(
      /^141502667606\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/tei:/,
    );
    expect(() => containerImageUri({ kind: 'chat', imageTag: undefined }, 'xx-nowhere-1')).toThrow(
      /No djl-inference/,
    );
  });
});

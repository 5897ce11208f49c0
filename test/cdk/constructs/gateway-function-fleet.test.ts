import { describe, expect, it } from 'vitest';
import { gatewayCatalogue } from '../../../cdk/config/gateway-catalogue.js';
import { gatewayFleet } from '../../../cdk/config/gateway-fleet.js';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { gatewayConfigSchema } from '../../../shared/config/schema.js';

/** The message of the config error `input` raises (it names the field after `→ at`). */
const refusal = (input: Record<string, unknown>): string => {
  try {
    parseSluiceConfig(input);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
};

/** The config check of the gateway's Managed Instances fleet and the budget division. */
describe('gateway fleet config', () => {
  it('derives one worker per vCPU and the fleet maximum from maxVCpu by default', () => {
    const config = parseSluiceConfig({});
    expect(gatewayFleet(config.gateway)).toEqual({
      vCpusPerEnvironment: 1,
      workersPerEnvironment: 1,
      maxEnvironments: 64,
      maxWorkers: 64,
    });
    const big = parseSluiceConfig({ gateway: { memoryMiB: 16_384, memoryGiBPerVCpu: 4 } });
    expect(gatewayFleet(big.gateway)).toMatchObject({ vCpusPerEnvironment: 4, maxWorkers: 64 });
  });

  it('divides each model’s gatewayConcurrency across every worker the fleet can have', () => {
    const config = parseSluiceConfig({
      gateway: { maxVCpu: 16, workersPerEnvironment: 2 },
    });
    const catalogue = gatewayConfigSchema.parse(gatewayCatalogue(config));
    // 16 environments × 2 workers = 32 workers; 256 ÷ 32 = 8 each.
    const chat = catalogue.models.find((m) => m.kind === 'chat')!;
    expect(chat.admit.maxConcurrency).toBe(8);
    const embedding = catalogue.models.find((m) => m.kind === 'embedding')!;
    expect(embedding.batch.maxConcurrentBatches).toBe(8);
    const total = chat.admit.maxConcurrency * gatewayFleet(config.gateway).maxWorkers;
    expect(total).toBeLessThanOrEqual(256);
  });

  it('refuses a model whose share is below one request per worker, naming the field', () => {
    expect(
      refusal({
        gateway: { maxVCpu: 128 },
        models: [
          {
            id: 'm',
            endpointName: 'sluice-m',
            kind: 'chat',
            gatewayConcurrency: 100,
            variants: [{ name: 'g5', instanceType: 'ml.g5.2xlarge' }],
          },
        ],
      }),
    ).toMatch(
      /100 is less than one request per gateway worker \(128[^\n]*\n\s*→ at models\[0\]\.gatewayConcurrency/,
    );
  });

  it('enforces the documented Managed Instances limits, naming the field', () => {
    const refuses = (gateway: Record<string, unknown>, field: string, message = /./) => {
      const text = refusal({ gateway });
      expect(text).toContain(`→ at gateway.${field}`);
      expect(text).toMatch(message);
    };
    refuses({ memoryMiB: 1024 }, 'memoryMiB');
    refuses({ memoryMiB: 6144, memoryGiBPerVCpu: 4 }, 'memoryMiB', /whole multiple.*use 8192/);
    refuses({ maxConcurrency: 1601 }, 'maxConcurrency');
    refuses({ workersPerEnvironment: 4, maxConcurrency: 3 }, 'maxConcurrency', /every worker/);
    refuses({ maxEnvironments: 10 }, 'maxEnvironments', /below the 64 environments/);
    refuses({ memoryMiB: 32_768, memoryGiBPerVCpu: 2, maxVCpu: 8 }, 'maxVCpu');
    expect(() => parseSluiceConfig({ gateway: { maxConcurrency: 1600 } })).not.toThrow();
  });
});

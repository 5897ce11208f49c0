import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../../tools/preflight/checks/index.js';
import { covers } from '../../../tools/preflight/checks/certificate.js';
import { artifactNeeds } from '../../../tools/preflight/checks/artifacts.js';
import { instanceNeeds } from '../../../tools/preflight/checks/quotas.js';
import { deploymentOf, INPUT } from './fixtures.js';

describe('what the checks derive from the config', () => {
  it('adds up twice the maximum of every fleet of one instance type', () => {
    const { config } = deploymentOf({
      ...INPUT,
      sharedEndpoints: [{ name: 'shared-g5', instanceType: 'ml.g5.2xlarge', maxInstanceCount: 3 }],
    });
    expect(instanceNeeds(config)).toEqual([
      {
        instanceType: 'ml.g5.2xlarge',
        required: 10,
        fleets: ['sluice-deepseek-8b/g5 max 2', 'shared-g5 max 3'],
      },
    ]);
  });

  it('lists each model version once, with a variant pinned to its own version', () => {
    const [chat, embedding] = INPUT.models!;
    const { config } = deploymentOf({
      ...INPUT,
      models: [
        {
          ...chat!,
          variants: [
            { name: 'g5', instanceType: 'ml.g5.2xlarge', initialWeight: 90 },
            { name: 'canary', instanceType: 'ml.g5.2xlarge', initialWeight: 10, version: 'v2' },
          ],
        },
        embedding!,
      ],
    });
    expect(artifactNeeds(config)).toEqual([
      { prefix: 'models/deepseek-r1-distill-llama-8b/v1/', servedBy: 'sluice-deepseek-8b/g5' },
      { prefix: 'models/deepseek-r1-distill-llama-8b/v2/', servedBy: 'sluice-deepseek-8b/canary' },
      { prefix: 'models/bge-large-en/v1/', servedBy: 'bge-large' },
    ]);
  });

  it('matches certificate names as CloudFront does: exact, or a wildcard for one label', () => {
    expect(covers('api.example.com', 'API.example.com')).toBe(true);
    expect(covers('*.example.com', 'api.example.com')).toBe(true);
    expect(covers('*.example.com', 'a.b.example.com')).toBe(false);
    expect(covers('*.example.com', 'example.com')).toBe(false);
    expect(covers('example.com', 'api.example.com')).toBe(false);
  });
});

describe('docs/preflight.md', () => {
  it('lists every IAM action a check calls', () => {
    const doc = readFileSync('docs/preflight.md', 'utf8');
    const actions = [...new Set(CHECKS.flatMap((c) => c.permissions))];
    expect(actions.filter((a) => !doc.includes(`| \`${a}\``))).toEqual([]);
  });
});

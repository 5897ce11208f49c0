import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  availabilityZonesContextKey,
  chooseAvailabilityZones,
} from '../../../cdk/config/availability-zones.js';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { buildSluiceApp } from '../../../cdk/stacks/sluice-app.js';

const LONG = 120_000;
const KEY = availabilityZonesContextKey('111111111111', 'eu-west-3');
const at = { account: '111111111111', region: 'eu-west-3' };

describe('availability zones of the gateway VPC', () => {
  it('uses the configured zones, or the first three of a recorded lookup', () => {
    expect(
      chooseAvailabilityZones(
        { ...at, availabilityZones: ['eu-west-3a', 'eu-west-3b'] },
        undefined,
      ),
    ).toEqual({ zones: ['eu-west-3a', 'eu-west-3b'], source: 'config' });
    expect(
      chooseAvailabilityZones({ ...at, availabilityZones: undefined }, [
        'eu-west-3a',
        'eu-west-3b',
        'eu-west-3c',
        'eu-west-3d',
      ]),
    ).toEqual({ zones: ['eu-west-3a', 'eu-west-3b', 'eu-west-3c'], source: 'lookup' });
  });

  it('refuses to guess: neither configured nor recorded is an error naming the field and the fixes', () => {
    const choice = chooseAvailabilityZones({ ...at, availabilityZones: undefined }, undefined);
    expect(choice).toEqual({
      error: expect.stringContaining('sluice.availabilityZones is not set'),
    });
    const { error } = choice as { error: string };
    expect(error).toContain(KEY);
    expect(error).toContain('aws ec2 describe-availability-zones --region eu-west-3');
    expect(error).toContain('npx cdk synth with credentials');
  });

  it('refuses a configured zone the recorded lookup does not list, and a lookup of one zone', () => {
    const choice = chooseAvailabilityZones(
      { ...at, availabilityZones: ['eu-west-3a', 'eu-west-3c'] },
      ['eu-west-3a', 'eu-west-3b'],
    );
    expect(choice).toEqual({
      error: expect.stringMatching(
        /^sluice\.availabilityZones: eu-west-3c is not among the zones cdk\.context\.json records/,
      ),
    });
    expect(
      chooseAvailabilityZones({ ...at, availabilityZones: undefined }, ['eu-west-3a']),
    ).toEqual({ error: expect.stringContaining('lists 1 zone(s) of eu-west-3') });
  });

  it('refuses zones of another region and repeated zones, naming the field', () => {
    expect(() =>
      parseSluiceConfig({ region: 'eu-west-1', availabilityZones: ['eu-west-1a', 'us-east-1b'] }),
    ).toThrow(/us-east-1b is not a zone of region eu-west-1[\s\S]*availabilityZones\[1\]/);
    expect(() =>
      parseSluiceConfig({ region: 'eu-west-1', availabilityZones: ['eu-west-1a', 'eu-west-1a'] }),
    ).toThrow(/must not repeat a zone[\s\S]*availabilityZones/);
  });

  it(
    'stops synth with an error naming availabilityZones and asks the CLI for the lookup when neither is there',
    () => {
      // The configured and the recorded cases are synthesized in test/cdk/app.test.ts.
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = buildSluiceApp(app, parseSluiceConfig({ region: 'eu-west-3' }), {
        nag: false,
      }).serving;
      Annotations.fromStack(stack).hasError(
        `/${stack.stackName}`,
        Match.stringLikeRegexp('sluice\\.availabilityZones is not set'),
      );
      expect(app.synth().manifest.missing?.map((m) => m.key)).toContain(KEY);
    },
    LONG,
  );
});

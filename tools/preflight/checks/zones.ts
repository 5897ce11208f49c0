import { DescribeAvailabilityZonesCommand } from '@aws-sdk/client-ec2';
import {
  LOOKUP_ZONES,
  availabilityZonesContextKey,
  chooseAvailabilityZones,
} from '../../../cdk/config/availability-zones.js';
import type { Check, CheckResult, Deployment } from '../types.js';

/**
 * The gateway VPC's zones as the CDK app chooses them (`chooseAvailabilityZones`): configured,
 * or recorded by a zone lookup in the context. `lookupAtDeploy` when neither is there: the CDK
 * CLI then makes the lookup with the deploy credentials.
 */
export function gatewayZones({
  config,
  context,
}: Deployment): { zones: string[]; source: string } | { lookupAtDeploy: true } | { error: string } {
  const key = availabilityZonesContextKey(config.account, config.region);
  if (!config.availabilityZones && context[key] === undefined) return { lookupAtDeploy: true };
  const choice = chooseAvailabilityZones(config, context[key]);
  if ('error' in choice) return choice;
  return {
    zones: choice.zones,
    source: choice.source === 'config' ? 'sluice.availabilityZones' : `cdk.context.json ${key}`,
  };
}

/**
 * The zones the gateway VPC would use exist in the region and are available to the account; with
 * no zones configured or recorded, the ones the CDK's lookup would pick are enough (two or more).
 */
export const zonesCheck: Check = {
  id: 'zones',
  permissions: ['ec2:DescribeAvailabilityZones'],

  plan: (deployment) => {
    const region = deployment.config.region;
    const zones = gatewayZones(deployment);
    if ('zones' in zones) {
      return [
        `EC2 (${region}): zones ${zones.zones.join(', ')} from ${zones.source} exist and are available`,
      ];
    }
    if ('lookupAtDeploy' in zones) {
      return [
        `EC2 (${region}): the zone lookup cdk deploy makes finds two or more available zones`,
      ];
    }
    return [`EC2 (${region}): nothing to look up until the config is fixed: ${zones.error}`];
  },

  async run(ctx) {
    const { config } = ctx;
    const base = { check: 'zones', subject: config.region };
    const out = await ctx.clients.ec2(config.region).send(new DescribeAvailabilityZonesCommand({}));
    const known = new Map(
      (out.AvailabilityZones ?? [])
        .filter((z) => (z.ZoneType ?? 'availability-zone') === 'availability-zone')
        .map((z) => [z.ZoneName ?? '', z.State ?? 'unknown']),
    );
    const available = [...known].filter(([, state]) => state === 'available').map(([n]) => n);
    const choose = `Set sluice.availabilityZones to two or three of: ${available.join(', ') || '(none available)'}.`;
    const zones = gatewayZones(ctx);

    if ('error' in zones) {
      return [{ ...base, status: 'fail', detail: zones.error, fix: choose }];
    }
    if ('lookupAtDeploy' in zones) {
      const picked = available.slice(0, LOOKUP_ZONES);
      const result: CheckResult =
        picked.length >= 2
          ? {
              ...base,
              status: 'pass',
              detail: `no zones configured or recorded; the CDK's lookup at deploy would pick ${picked.join(', ')}`,
            }
          : {
              ...base,
              status: 'fail',
              detail: `only ${picked.length} available zone(s); the gateway VPC needs two`,
              fix: 'Deploy in a region with two or more available zones (sluice.region).',
            };
      return [result];
    }
    const problems = zones.zones.flatMap((zone) => {
      const state = known.get(zone);
      if (state === undefined)
        return [`${zone} does not exist (or is not enabled for the account)`];
      return state === 'available' ? [] : [`${zone} is ${state}`];
    });
    if (problems.length === 0) {
      return [
        {
          ...base,
          status: 'pass',
          detail: `${zones.zones.join(', ')} (from ${zones.source}) available`,
        },
      ];
    }
    return [
      {
        ...base,
        status: 'fail',
        detail: `${problems.join('; ')}; zones from ${zones.source}`,
        fix: choose,
      },
    ];
  },
};

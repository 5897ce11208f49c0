import { DescribeAvailabilityZonesCommand } from '@aws-sdk/client-ec2';
import type { Check, Deployment } from '../types.js';

/**
 * The zones the gateway VPC would use, in the app's order of preference: `availabilityZones` in
 * the config, a zone lookup recorded in the context (`cdk.context.json`), or the app's fallback
 * of the region's a, b and c zones.
 */
export function configuredZones({ config, context }: Deployment): {
  zones: string[];
  source: string;
} {
  if (config.availabilityZones) {
    return { zones: config.availabilityZones, source: 'sluice.availabilityZones' };
  }
  const key = `availability-zones:account=${config.account}:region=${config.region}`;
  const cached = context[key];
  if (Array.isArray(cached) && cached.every((z) => typeof z === 'string')) {
    return { zones: cached, source: `context ${key}` };
  }
  return {
    zones: ['a', 'b', 'c'].map((z) => `${config.region}${z}`),
    source: 'a guess (availabilityZones is not set)',
  };
}

/** The configured availability zones exist in the region and are available to the account. */
export const zonesCheck: Check = {
  id: 'zones',
  permissions: ['ec2:DescribeAvailabilityZones'],

  plan: (deployment) => {
    const { zones, source } = configuredZones(deployment);
    return [
      `EC2 (${deployment.config.region}): zones ${zones.join(', ')} from ${source} exist and are available`,
    ];
  },

  async run(ctx) {
    const { config } = ctx;
    const { zones, source } = configuredZones(ctx);
    const out = await ctx.clients
      .ec2(config.region)
      .send(new DescribeAvailabilityZonesCommand({ AllAvailabilityZones: false }));
    const known = new Map(
      (out.AvailabilityZones ?? [])
        .filter((z) => (z.ZoneType ?? 'availability-zone') === 'availability-zone')
        .map((z) => [z.ZoneName ?? '', z.State ?? 'unknown']),
    );
    const available = [...known].filter(([, state]) => state === 'available').map(([n]) => n);
    const problems = zones.flatMap((zone) => {
      const state = known.get(zone);
      if (state === undefined)
        return [`${zone} does not exist (or is not enabled for the account)`];
      return state === 'available' ? [] : [`${zone} is ${state}`];
    });
    const base = { check: 'zones', subject: config.region };
    const listed = `${zones.join(', ')} (from ${source})`;
    if (problems.length === 0) {
      return [{ ...base, status: 'pass', detail: `${listed} available` }];
    }
    return [
      {
        ...base,
        status: 'fail',
        detail: `${problems.join('; ')}; zones from ${source}`,
        fix: `Set sluice.availabilityZones to two or three of: ${available.join(', ') || '(none available)'}.`,
      },
    ];
  },
};

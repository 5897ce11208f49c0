import type { SluiceConfig } from './schema.js';

/**
 * The context key under which the CDK's availability-zone provider records its lookup (in
 * `cdk.context.json`): the zones `DescribeAvailabilityZones` reports as available to the account
 * in the region.
 */
export const availabilityZonesContextKey = (account: string, region: string): string =>
  `availability-zones:account=${account}:region=${region}`;

/** How many zones the gateway VPC spreads over when they come from the lookup. */
export const LOOKUP_ZONES = 3;

/** The zones the gateway VPC uses and where they came from, or why there are none. */
export type ZoneChoice =
  { readonly zones: string[]; readonly source: 'config' | 'lookup' } | { readonly error: string };

/**
 * Picks the gateway VPC's zones: `availabilityZones` from the config when set (each must be among
 * the zones a recorded lookup lists, if there is one), otherwise the first {@link LOOKUP_ZONES}
 * zones of the recorded lookup. With neither, or with a configured zone the lookup does not list,
 * the answer is an error that names the field and says what to change. Nothing is guessed: some
 * regions have two zones, and an account may not be able to use a given zone.
 *
 * @param recorded the value of {@link availabilityZonesContextKey} in the CDK context, if any.
 */
export function chooseAvailabilityZones(
  config: Pick<SluiceConfig, 'account' | 'region' | 'availabilityZones'>,
  recorded: unknown,
): ZoneChoice {
  const key = availabilityZonesContextKey(config.account, config.region);
  const lookup =
    Array.isArray(recorded) && recorded.every((z) => typeof z === 'string')
      ? (recorded as string[])
      : undefined;
  if (config.availabilityZones) {
    const unknown = config.availabilityZones.filter((z) => lookup && !lookup.includes(z));
    if (unknown.length > 0) {
      return {
        error:
          `sluice.availabilityZones: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not among the zones ` +
          `cdk.context.json records as available to account ${config.account} in ${config.region} ` +
          `(${lookup!.join(', ')}). Choose zones from that list, or refresh the lookup with ` +
          `npx cdk context --reset "${key}" and synthesize again with credentials for the account.`,
      };
    }
    return { zones: [...config.availabilityZones], source: 'config' };
  }
  if (lookup) {
    const zones = lookup.filter((z) => z.startsWith(config.region)).slice(0, LOOKUP_ZONES);
    if (zones.length >= 2) return { zones, source: 'lookup' };
    return {
      error:
        `sluice.availabilityZones is not set, and the lookup in cdk.context.json ("${key}") lists ` +
        `${zones.length} zone(s) of ${config.region}; the gateway VPC needs two. Set availabilityZones ` +
        `in cdk.json, or deploy in a region with two or more zones.`,
    };
  }
  return {
    error:
      `sluice.availabilityZones is not set, and cdk.context.json holds no availability-zone lookup ` +
      `for account ${config.account} in ${config.region} ("${key}"). Set availabilityZones in ` +
      `cdk.json to 2–6 zones of ${config.region} that the account can use (for example ` +
      `["${config.region}a", "${config.region}b"], after checking them with ` +
      `aws ec2 describe-availability-zones --region ${config.region}), or run npx cdk synth with ` +
      `credentials for the account so the CDK records the lookup in cdk.context.json, and commit it.`,
  };
}

import {
  paginateListAWSDefaultServiceQuotas,
  paginateListServiceQuotas,
  type ServiceQuota,
  type ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import type { SluiceConfig } from '../../../cdk/config/schema.js';
import type { Check, CheckResult } from '../types.js';

/** One instance type's need: 2 × the most instances each fleet of that type may run. */
export interface InstanceNeed {
  readonly instanceType: string;
  readonly required: number;
  /** `endpoint/variant max N` for each fleet that adds to it. */
  readonly fleets: string[];
}

/**
 * Instances per type that a deploy may hold at once. A blue/green update (or an inference
 * component's rolling update) brings up a second fleet beside the first, so each fleet counts
 * twice its maximum; fleets of one type add up, since CloudFormation may update them together.
 */
export function instanceNeeds(config: SluiceConfig): InstanceNeed[] {
  const needs = new Map<string, { required: number; fleets: string[] }>();
  const add = (type: string, max: number, fleet: string): void => {
    const need = needs.get(type) ?? { required: 0, fleets: [] };
    need.required += 2 * max;
    need.fleets.push(`${fleet} max ${max}`);
    needs.set(type, need);
  };
  for (const model of config.models) {
    if (model.hosting !== 'endpoint') continue;
    for (const v of model.variants)
      add(v.instanceType, v.maxCapacity, `${model.endpointName}/${v.name}`);
  }
  for (const e of config.sharedEndpoints) add(e.instanceType, e.maxInstanceCount, e.name);
  return [...needs].map(([instanceType, n]) => ({ instanceType, ...n }));
}

/** The Service Quotas name of SageMaker's per-type endpoint quota (codes differ per type). */
export const quotaName = (instanceType: string): string => `${instanceType} for endpoint usage`;

/** Names compare without case: the console and the API have spelled them both ways. */
const key = (name: string): string => name.toLowerCase();

const SERVICE_CODE = 'sagemaker';

/**
 * SageMaker endpoint-instance quotas: for every configured instance type, the account's quota
 * `ml.<type> for endpoint usage` in the region is at least 2 × the fleets' maximum capacity.
 * Applied values come from `ListServiceQuotas`; a quota that was never raised is listed only by
 * `ListAWSDefaultServiceQuotas`, so its default value is used.
 */
export const quotasCheck: Check = {
  id: 'quotas',
  permissions: ['servicequotas:ListServiceQuotas', 'servicequotas:ListAWSDefaultServiceQuotas'],

  plan: ({ config }) =>
    instanceNeeds(config).map(
      (n) =>
        `Service Quotas (${SERVICE_CODE}, ${config.region}): '${quotaName(n.instanceType)}' ≥ ${n.required} (2 × ${n.fleets.join(', ')})`,
    ),

  async run({ config, clients }) {
    const needs = instanceNeeds(config);
    const client = clients.quotas(config.region);
    const wanted = new Set(needs.map((n) => key(quotaName(n.instanceType))));
    const found = await collect(client, wanted, 'applied');
    if ([...wanted].some((name) => !found.has(name))) {
      for (const [name, q] of await collect(client, wanted, 'default')) {
        if (!found.has(name)) found.set(name, q);
      }
    }
    return needs.map((n): CheckResult => {
      const name = quotaName(n.instanceType);
      const quota = found.get(key(name));
      const base = { check: 'quotas', subject: n.instanceType };
      const needed = `needs ${n.required} (2 × ${n.fleets.join(', ')})`;
      if (!quota || quota.Value === undefined) {
        return {
          ...base,
          status: 'fail',
          detail: `no quota '${name}' in ${config.region}: SageMaker does not offer the type for endpoints there`,
          fix: `Choose an instance type SageMaker hosts in ${config.region}, or another region (sluice.region).`,
        };
      }
      if (quota.Value >= n.required) {
        return { ...base, status: 'pass', detail: `quota ${quota.Value}, ${needed}` };
      }
      return {
        ...base,
        status: 'fail',
        detail: `quota ${quota.Value}, ${needed}`,
        fix:
          `Request an increase of '${name}' to ${n.required}: aws service-quotas request-service-quota-increase ` +
          `--service-code ${SERVICE_CODE} --quota-code ${quota.QuotaCode ?? '<code>'} --desired-value ${n.required} ` +
          `--region ${config.region}; or lower maxCapacity / maxInstanceCount.`,
      };
    });
  },
};

async function collect(
  client: ServiceQuotasClient,
  names: ReadonlySet<string>,
  which: 'applied' | 'default',
): Promise<Map<string, ServiceQuota>> {
  const out = new Map<string, ServiceQuota>();
  const pages =
    which === 'applied'
      ? paginateListServiceQuotas({ client, pageSize: 100 }, { ServiceCode: SERVICE_CODE })
      : paginateListAWSDefaultServiceQuotas(
          { client, pageSize: 100 },
          { ServiceCode: SERVICE_CODE },
        );
  for await (const page of pages) {
    for (const q of page.Quotas ?? []) {
      if (q.QuotaName && names.has(key(q.QuotaName))) out.set(key(q.QuotaName), q);
    }
  }
  return out;
}

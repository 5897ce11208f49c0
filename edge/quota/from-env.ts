import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { GatewayConfig } from '../../shared/config/schema.js';
import type { Clock, Logger } from '../types.js';
import { QuotaGate, type QuotaGateOptions } from './gate.js';
import { DynamoQuotaStore } from './store.js';

/** Variables {@link quotaGateFromEnv} reads. */
export interface QuotaEnv {
  /** The quota table (the deployment sets it); wins over `quotas.tableName`. */
  SLUICE_QUOTA_TABLE?: string;
  /** Another DynamoDB URL (the local stack's dynalite). @default the region's */
  SLUICE_QUOTA_ENDPOINT?: string;
  AWS_REGION?: string;
  [name: string]: string | undefined;
}

/**
 * The quota gate a deployment asks for, or `undefined` when `quotas.enabled` is false. A store
 * call that takes longer than a second counts as a store failure (`quotas.onStoreError`
 * decides), so an unreachable table cannot hold requests for the SDK's default timeouts.
 *
 * @throws Error naming `SLUICE_QUOTA_TABLE` when quotas are on and no table is named
 */
export const quotaGateFromEnv = (
  env: QuotaEnv,
  config: GatewayConfig,
  deps: {
    clock: Clock;
    logger: Logger;
    client?: DynamoDBClient;
    onStoreError?: QuotaGateOptions['onStoreError'];
  },
): QuotaGate | undefined => {
  const quotas = config.quotas;
  if (!quotas.enabled) return undefined;
  const tableName = env.SLUICE_QUOTA_TABLE || quotas.tableName;
  if (!tableName) {
    throw new Error(
      'quotas.enabled is true but no quota table is named: set SLUICE_QUOTA_TABLE (the CDK app sets it) or quotas.tableName.',
    );
  }
  const client =
    deps.client ??
    new DynamoDBClient({
      region: env.AWS_REGION ?? config.upstream.region,
      maxAttempts: 2,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 500, requestTimeout: 1000 }),
      ...(env.SLUICE_QUOTA_ENDPOINT ? { endpoint: env.SLUICE_QUOTA_ENDPOINT } : {}),
    });
  return new QuotaGate({
    store: new DynamoQuotaStore({
      tableName,
      client,
      retentionMs: quotas.retentionDays * 86_400_000,
    }),
    config: quotas,
    clock: deps.clock,
    logger: deps.logger,
    ...(deps.onStoreError ? { onStoreError: deps.onStoreError } : {}),
  });
};

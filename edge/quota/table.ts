/**
 * The quota table's layout, shared by the store (`DynamoQuotaStore`), the local stack (which
 * creates the table in dynalite) and the CDK construct (`QuotaTable`), so the three never differ.
 *
 * One item per counter and window: partition key `pk` names the counter (`tenant#<tenant>` or
 * `class#<tenant>#<principal class>`), sort key `sk` the window (`day#2026-12-02`,
 * `month#2026-12`). `expiresAt` (epoch seconds) is the TTL attribute that retires old windows.
 */
export const QUOTA_TABLE = Object.freeze({
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
});

/** The DynamoDB actions the gateway needs on the quota table, and no others. */
export const QUOTA_TABLE_ACTIONS = Object.freeze([
  'dynamodb:UpdateItem',
  'dynamodb:GetItem',
  'dynamodb:Query',
] as const);

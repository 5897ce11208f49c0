import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { AddressInfo } from 'node:net';
import { QUOTA_TABLE } from '../../edge/quota/table.js';

/** Placeholder credentials: dynalite checks that requests are signed, not by whom. */
export const LOCAL_DYNAMO_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>`: the `endpoint` of a `DynamoDBClient`. */
  endpoint: string;
  /** A new SDK client for this server (each caller its own, as separate processes would be). */
  client(): DynamoDBClient;
  close(): Promise<void>;
}

/**
 * Starts dynalite, a DynamoDB-compatible server from npm, in memory on loopback. It enforces
 * conditional updates as DynamoDB does; it has no `UpdateTimeToLive` (items keep their
 * `expiresAt` and are simply never retired) and no transactions.
 *
 * @example
 * const dynamo = await startLocalDynamo();
 * await createQuotaTable(dynamo.client(), 'sluice-quotas');
 */
export const startLocalDynamo = async (
  options: { host?: string; port?: number } = {},
): Promise<LocalDynamo> => {
  const host = options.host ?? '127.0.0.1';
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${host}:${port}`;
  return {
    endpoint,
    client: () =>
      new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: LOCAL_DYNAMO_CREDENTIALS,
        maxAttempts: 2,
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};

/**
 * Creates the quota table with the layout the store expects (`QUOTA_TABLE`), on-demand, and waits
 * until it is `ACTIVE`. An existing table is left as it is.
 */
export const createQuotaTable = async (
  client: DynamoDBClient,
  tableName: string,
): Promise<void> => {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: QUOTA_TABLE.partitionKey, AttributeType: 'S' },
          { AttributeName: QUOTA_TABLE.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: QUOTA_TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: QUOTA_TABLE.sortKey, KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let i = 0; i < 100; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`Table ${tableName} did not become ACTIVE.`);
};

import {
  DynamoDBClient,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { QUOTA_TABLE } from './table.js';
import type { QuotaWindow } from './windows.js';

/** One token counter in one window: an item of the quota table. */
export interface Counter {
  /** Partition key: `tenant#<tenant>` or `class#<tenant>#<class>`. */
  key: string;
  window: QuotaWindow;
  /** Tokens the window allows; `undefined` counts without a limit. */
  limit: number | undefined;
}

/** What a finished request changes on each of its counters. */
export interface Settlement {
  /** Tokens reserved for the request, released now. */
  reserved: number;
  /** Tokens charged for the request (what the container reported, or the reservation kept). */
  charged: number;
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
}

/** A window's totals as the store holds them. */
export interface CounterTotals {
  window: string;
  /** Tokens charged, including reservations of requests still running. */
  used: number;
  /** Reservations of requests still running. */
  reserved: number;
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  requests: number;
}

/** Thrown by {@link QuotaStore.reserve} when a counter would pass its limit. */
export class QuotaRefusal extends Error {
  override readonly name = 'QuotaRefusal';
  constructor(readonly counter: Counter) {
    super(`Counter ${counter.key} ${counter.window.id} is at its limit.`);
  }
}

/** Where token counters live: DynamoDB in AWS, dynalite locally. */
export interface QuotaStore {
  /**
   * Adds `tokens` to every counter, or to none: a counter that would pass its limit refuses, and
   * what the others took is given back.
   * @returns each counter's `used` after the reservation, in order
   * @throws QuotaRefusal naming the counter that refused; any other error is the store's
   */
  reserve(counters: readonly Counter[], tokens: number): Promise<number[]>;
  /** Releases a reservation and charges what was used; unconditional. */
  settle(counters: readonly Counter[], settlement: Settlement): Promise<void>;
  /** The windows of one counter whose sort keys lie between `from` and `to` (inclusive). */
  query(key: string, from: string, to: string): Promise<CounterTotals[]>;
}

export interface DynamoQuotaStoreOptions {
  tableName: string;
  /** @default a client for the environment's region and credentials */
  client?: DynamoDBClient;
  /**
   * How long a window's item is kept after the window ends, before its TTL retires it.
   * @default 35 days
   */
  retentionMs?: number;
}

/** By name: the SDK's exception class, or the same error from another copy of the SDK. */
const conditionFailed = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ConditionalCheckFailedException';

const N = (n: number): AttributeValue => ({ N: String(n) });
const num = (v: AttributeValue | undefined): number => (v?.N === undefined ? 0 : Number(v.N));

/**
 * Token counters in DynamoDB, one item per counter and window (see `QUOTA_TABLE`). A reservation
 * is one conditional `UpdateItem` per counter (`used <= limit - tokens`), so two gateway
 * processes can never both take the last tokens of a window; a settlement is an unconditional
 * `ADD`. DynamoDB has no multi-item condition short of a transaction, and dynalite (the local
 * server) has no `TransactWriteItems`, so a refused counter gives back what the others took:
 * between the two, another request may be refused early, never admitted past a limit.
 */
export class DynamoQuotaStore implements QuotaStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly retentionMs: number;

  constructor(options: DynamoQuotaStoreOptions) {
    this.client = options.client ?? new DynamoDBClient({});
    this.tableName = options.tableName;
    this.retentionMs = options.retentionMs ?? 35 * 86_400_000;
  }

  async reserve(counters: readonly Counter[], tokens: number): Promise<number[]> {
    const results = await Promise.allSettled(counters.map((c) => this.take(c, tokens)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed === -1) return results.map((r) => (r as PromiseFulfilledResult<number>).value);
    // Give back what the others took before reporting the first failure.
    await Promise.allSettled(
      counters.map((c, i) =>
        results[i]!.status === 'fulfilled' ? this.add(c, { used: -tokens, reserved: -tokens }) : 0,
      ),
    );
    const refused = results.findIndex((r) => r.status === 'rejected' && conditionFailed(r.reason));
    // A store failure outranks a refusal: the caller's fail-open/closed choice must see it.
    const storeFailure = results.find(
      (r) => r.status === 'rejected' && !conditionFailed(r.reason),
    ) as PromiseRejectedResult | undefined;
    if (storeFailure) throw storeFailure.reason;
    throw new QuotaRefusal(counters[refused]!);
  }

  async settle(counters: readonly Counter[], s: Settlement): Promise<void> {
    await Promise.all(
      counters.map((c) =>
        this.add(c, {
          used: s.charged - s.reserved,
          reserved: -s.reserved,
          promptTokens: s.promptTokens,
          completionTokens: s.completionTokens,
          reasoningTokens: s.reasoningTokens,
          requests: 1,
        }),
      ),
    );
  }

  async query(key: string, from: string, to: string): Promise<CounterTotals[]> {
    const out: CounterTotals[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#pk': QUOTA_TABLE.partitionKey, '#sk': QUOTA_TABLE.sortKey },
          ExpressionAttributeValues: { ':pk': { S: key }, ':from': { S: from }, ':to': { S: to } },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        out.push({
          window: item[QUOTA_TABLE.sortKey]?.S ?? '',
          used: num(item.used),
          reserved: num(item.reserved),
          promptTokens: num(item.promptTokens),
          completionTokens: num(item.completionTokens),
          reasoningTokens: num(item.reasoningTokens),
          requests: num(item.requests),
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** Conditionally adds `tokens` to `used` and `reserved`; returns `used` after. */
  private async take(counter: Counter, tokens: number): Promise<number> {
    const limited = counter.limit !== undefined;
    const out = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.keyOf(counter),
        UpdateExpression: 'ADD #used :n, #reserved :n SET #exp = if_not_exists(#exp, :exp)',
        ...(limited ? { ConditionExpression: 'attribute_not_exists(#used) OR #used <= :max' } : {}),
        ExpressionAttributeNames: {
          '#used': 'used',
          '#reserved': 'reserved',
          '#exp': QUOTA_TABLE.ttlAttribute,
        },
        ExpressionAttributeValues: {
          ':n': N(tokens),
          ':exp': N(this.expiresAt(counter)),
          ...(limited ? { ':max': N(counter.limit! - tokens) } : {}),
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return num(out.Attributes?.used);
  }

  /** Unconditionally adds each named amount to the counter's item. */
  private async add(counter: Counter, amounts: Record<string, number>): Promise<void> {
    const entries = Object.entries(amounts);
    const names: Record<string, string> = { '#exp': QUOTA_TABLE.ttlAttribute };
    const values: Record<string, AttributeValue> = { ':exp': N(this.expiresAt(counter)) };
    entries.forEach(([name, amount], i) => {
      names[`#a${i}`] = name;
      values[`:a${i}`] = N(amount);
    });
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.keyOf(counter),
        UpdateExpression: `ADD ${entries.map((_, i) => `#a${i} :a${i}`).join(', ')} SET #exp = if_not_exists(#exp, :exp)`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  private keyOf(counter: Counter): Record<string, AttributeValue> {
    return {
      [QUOTA_TABLE.partitionKey]: { S: counter.key },
      [QUOTA_TABLE.sortKey]: { S: counter.window.id },
    };
  }

  /** TTL in epoch seconds: the window's end plus the retention. */
  private expiresAt(counter: Counter): number {
    return Math.ceil((counter.window.resetsAt + this.retentionMs) / 1000);
  }
}

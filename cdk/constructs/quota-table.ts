import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { QUOTA_TABLE, QUOTA_TABLE_ACTIONS } from '../../edge/quota/table.js';

export interface QuotaTableProps {
  /** Customer key the table is encrypted with. */
  readonly key: kms.IKey;
  /** What happens to the table (and its usage history) when the stack goes. @default RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The token-quota table every gateway environment shares: one item per counter and window
 * (`QUOTA_TABLE` in `edge/quota/table.ts`, the layout the gateway's store and the local stack
 * use), on-demand capacity, encrypted with the customer key, point-in-time recovery on, and
 * `expiresAt` as the TTL attribute that retires old windows.
 */
export class QuotaTable extends Construct {
  public readonly table: dynamodb.TableV2;
  private readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: QuotaTableProps) {
    super(scope, id);
    this.key = props.key;
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: QUOTA_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: QUOTA_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      encryption: dynamodb.TableEncryptionV2.customerManagedKey(props.key),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: QUOTA_TABLE.ttlAttribute,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  /**
   * Lets the gateway reserve, settle and read counters: exactly `QUOTA_TABLE_ACTIONS` on this
   * table's ARN, and the key only through DynamoDB in this region.
   */
  grantGateway(grantee: iam.IGrantable): void {
    this.table.grant(grantee, ...QUOTA_TABLE_ACTIONS);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }
}

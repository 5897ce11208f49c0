import type { ACMClient } from '@aws-sdk/client-acm';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { STSClient } from '@aws-sdk/client-sts';
import type { SluiceConfig } from '../../cdk/config/schema.js';

/**
 * What `cdk deploy` would deploy: the validated `sluice` configuration and the whole context it
 * was read from (other keys matter too: cached zone lookups, the bootstrap qualifier).
 */
export interface Deployment {
  readonly config: SluiceConfig;
  readonly context: Readonly<Record<string, unknown>>;
}

/** SDK clients by region, created on first use; tests replace them with `aws-sdk-client-mock`. */
export interface Clients {
  sts(region: string): STSClient;
  quotas(region: string): ServiceQuotasClient;
  ec2(region: string): EC2Client;
  cloudFormation(region: string): CloudFormationClient;
  ssm(region: string): SSMClient;
  acm(region: string): ACMClient;
  s3(region: string): S3Client;
  ecr(region: string): ECRClient;
}

export interface PreflightContext extends Deployment {
  /** The account the credentials belong to (STS `GetCallerIdentity`). */
  readonly account: string;
  readonly clients: Clients;
}

/**
 * - `pass`: checked and fine;
 * - `fail`: checked and `cdk deploy` (or the first request) would fail: the run exits 1;
 * - `unverified`: the account would not let preflight look (access denied): says how to check;
 * - `skip`: nothing to check yet (a resource the stacks create themselves).
 */
export type Status = 'pass' | 'fail' | 'unverified' | 'skip';

/** One row of the table. */
export interface CheckResult {
  /** The check's id (`quotas`, `zones` …). */
  readonly check: string;
  /** What was checked: an instance type, a region, an image. */
  readonly subject: string;
  readonly status: Status;
  /** What preflight found. */
  readonly detail: string;
  /** What to change, for every status but `pass`. */
  readonly fix?: string;
}

/** One check: what it would look at, the read-only permissions it needs, and the look itself. */
export interface Check {
  readonly id: string;
  /** IAM actions the check calls (docs/preflight.md lists them all). */
  readonly permissions: readonly string[];
  /** What the check would verify for this deployment, one line per subject. */
  plan(deployment: Deployment): string[];
  /** Runs the check: one result per subject. May throw; the runner turns that into a row. */
  run(ctx: PreflightContext): Promise<CheckResult[]>;
}

import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { CHECKS } from './checks/index.js';
import { runChecks } from './runner.js';
import { renderTable } from './table.js';
import type { Check, CheckResult, Clients, Deployment } from './types.js';

export interface PreflightOptions {
  readonly deployment: Deployment;
  /** SDK clients, or why there are no credentials to make them with. */
  readonly aws: { readonly clients: Clients } | { readonly noCredentials: string };
  /** Time each check may take. @default 30_000 */
  readonly timeoutMs?: number;
  /** Where the report goes. */
  readonly out: (text: string) => void;
  /** @default CHECKS */
  readonly checks?: readonly Check[];
}

/**
 * Checks the account and region the deployment targets, prints the table, and returns the rows
 * with the exit code: 1 when any check fails, else 0. Without credentials it prints what it would
 * check and exits 0, so a fresh clone can run it.
 */
export async function preflight(
  options: PreflightOptions,
): Promise<{ exitCode: number; results: CheckResult[] }> {
  const { deployment, out } = options;
  const checks = options.checks ?? CHECKS;
  const { config } = deployment;
  if ('noCredentials' in options.aws) {
    out(describe(checks, deployment, options.aws.noCredentials));
    return { exitCode: 0, results: [] };
  }
  const { clients } = options.aws;
  const identity = await clients.sts(config.region).send(new GetCallerIdentityCommand({}));
  const account = identity.Account ?? 'unknown';
  out(
    `Sluice preflight: account ${account} (${identity.Arn ?? 'unknown caller'}), region ${config.region}\n`,
  );
  const results = await runChecks(
    checks,
    { ...deployment, account, clients },
    options.timeoutMs ?? 30_000,
  );
  out(renderTable(results));
  return { exitCode: results.some((r) => r.status === 'fail') ? 1 : 0, results };
}

function describe(checks: readonly Check[], deployment: Deployment, reason: string): string {
  const { config } = deployment;
  const lines = [
    'Sluice preflight: no AWS credentials, so nothing was checked.',
    `The SDK's default provider chain (environment, SSO and shared config files, web identity,`,
    `container and instance metadata) found none: ${reason}`,
    '',
    `With credentials it checks account ${config.account}, region ${config.region}, before \`cdk deploy\`:`,
  ];
  for (const check of checks) {
    for (const line of check.plan(deployment)) lines.push(`  ${check.id.padEnd(13)}${line}`);
  }
  lines.push(
    '',
    'Provide credentials (for example AWS_PROFILE=<profile> npm run preflight) to run the checks;',
    'the read-only IAM permissions they need are listed in docs/preflight.md.',
  );
  return lines.join('\n');
}

import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { errorName } from '../errors.js';
import type { Check, CheckResult, Deployment, PreflightContext } from '../types.js';

/** The stack `cdk bootstrap` creates, unless `--toolkit-stack-name` names another. */
export const TOOLKIT_STACK = 'CDKToolkit';

/**
 * The bootstrap version Sluice needs. aws-cdk-lib's `DefaultStackSynthesizer` requires 6 to
 * deploy and 8 for its lookup role (context lookups, `cdk diff`); the synthesized templates check
 * the SSM parameter below in their `CheckBootstrapVersion` rule.
 */
export const MIN_BOOTSTRAP_VERSION = 8;

/** `@aws-cdk/core:bootstrapQualifier` from the context, or the CDK's default. */
export const bootstrapQualifier = (context: Deployment['context']): string => {
  const q = context['@aws-cdk/core:bootstrapQualifier'];
  return typeof q === 'string' ? q : 'hnb659fds';
};

/** The regions stacks deploy to: the configured one, and us-east-1 for the edge-security stack. */
export const bootstrapRegions = ({ config }: Deployment): string[] => [
  ...new Set([config.region, 'us-east-1']),
];

const COMPLETE = new Set([
  'CREATE_COMPLETE',
  'UPDATE_COMPLETE',
  'UPDATE_ROLLBACK_COMPLETE',
  'IMPORT_COMPLETE',
]);

/** The CDK bootstrap stack exists, is usable, and its version parameter is recent enough. */
export const bootstrapCheck: Check = {
  id: 'bootstrap',
  permissions: ['cloudformation:DescribeStacks', 'ssm:GetParameter'],

  plan: (deployment) =>
    bootstrapRegions(deployment).map(
      (region) =>
        `CloudFormation (${region}): stack ${TOOLKIT_STACK} is complete and SSM /cdk-bootstrap/${bootstrapQualifier(deployment.context)}/version ≥ ${MIN_BOOTSTRAP_VERSION}`,
    ),

  run: (ctx) => Promise.all(bootstrapRegions(ctx).map((region) => checkRegion(ctx, region))),
};

async function checkRegion(ctx: PreflightContext, region: string): Promise<CheckResult> {
  const base = { check: 'bootstrap', subject: region };
  const fix = `Run: npx cdk bootstrap aws://${ctx.account}/${region}`;
  let status: string | undefined;
  try {
    const out = await ctx.clients
      .cloudFormation(region)
      .send(new DescribeStacksCommand({ StackName: TOOLKIT_STACK }));
    status = out.Stacks?.[0]?.StackStatus;
  } catch (err) {
    // CloudFormation answers ValidationError "Stack with id … does not exist".
    if (errorName(err) !== 'ValidationError') throw err;
  }
  if (!status) {
    return { ...base, status: 'fail', detail: `no ${TOOLKIT_STACK} stack`, fix };
  }
  if (!COMPLETE.has(status)) {
    return {
      ...base,
      status: 'fail',
      detail: `${TOOLKIT_STACK} is ${status}`,
      fix: `Repair or delete the ${TOOLKIT_STACK} stack in ${region}, then: npx cdk bootstrap aws://${ctx.account}/${region}`,
    };
  }
  const parameter = `/cdk-bootstrap/${bootstrapQualifier(ctx.context)}/version`;
  let version: number;
  try {
    const out = await ctx.clients.ssm(region).send(new GetParameterCommand({ Name: parameter }));
    version = Number(out.Parameter?.Value);
  } catch (err) {
    if (errorName(err) !== 'ParameterNotFound') throw err;
    return {
      ...base,
      status: 'fail',
      detail: `${TOOLKIT_STACK} ${status}, but no SSM parameter ${parameter} (another qualifier?)`,
      fix,
    };
  }
  if (!(version >= MIN_BOOTSTRAP_VERSION)) {
    return {
      ...base,
      status: 'fail',
      detail: `bootstrap version ${version}, needs ${MIN_BOOTSTRAP_VERSION} or later`,
      fix: `${fix} (upgrades the stack in place)`,
    };
  }
  return { ...base, status: 'pass', detail: `${TOOLKIT_STACK} ${status}, version ${version}` };
}

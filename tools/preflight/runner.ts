import { errorMessage, errorName, isAccessDenied } from './errors.js';
import type { Check, CheckResult, PreflightContext } from './types.js';

/**
 * Runs the checks concurrently, each under its own timeout. A check that throws, is refused, or
 * does not answer in time becomes one row instead of stopping the others.
 */
export async function runChecks(
  checks: readonly Check[],
  ctx: PreflightContext,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const rows = await Promise.all(checks.map((check) => runOne(check, ctx, timeoutMs)));
  return rows.flat();
}

class CheckTimeout extends Error {
  override readonly name = 'CheckTimeout';
}

async function runOne(
  check: Check,
  ctx: PreflightContext,
  timeoutMs: number,
): Promise<CheckResult[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([check.run(ctx), timeout]);
  } catch (err) {
    return [errorRow(check, err, { region: ctx.config.region, timeoutMs })];
  } finally {
    clearTimeout(timer);
  }
}

function errorRow(
  check: Check,
  err: unknown,
  { region, timeoutMs }: { region: string; timeoutMs: number },
): CheckResult {
  const base = { check: check.id, subject: region };
  if (err instanceof CheckTimeout) {
    return {
      ...base,
      status: 'fail',
      detail: `no answer within ${timeoutMs / 1000} s`,
      fix: 'Check network access to the AWS endpoints, then run again (--timeout <seconds> allows longer).',
    };
  }
  if (isAccessDenied(err)) {
    return {
      ...base,
      status: 'unverified',
      detail: `${errorName(err)}: ${errorMessage(err)}`,
      fix: `Allow ${check.permissions.join(', ')} for the credentials preflight runs with (docs/preflight.md).`,
    };
  }
  return {
    ...base,
    status: 'fail',
    detail: `${errorName(err)}: ${errorMessage(err)}`,
    fix: 'Resolve the error above, then run preflight again.',
  };
}

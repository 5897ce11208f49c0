import { describe, expect, it } from 'vitest';
import { runChecks } from '../../../tools/preflight/runner.js';
import type { Check, CheckResult, PreflightContext } from '../../../tools/preflight/types.js';
import { ACCOUNT, awsError, clients, deploymentOf } from './fixtures.js';

const ctx: PreflightContext = { ...deploymentOf(), account: ACCOUNT, clients: clients() };

const check = (id: string, run: Check['run']): Check => ({
  id,
  permissions: [`${id}:Describe`, `${id}:List`],
  plan: () => [],
  run,
});
const row = (id: string): CheckResult => ({
  check: id,
  subject: 's',
  status: 'pass',
  detail: 'ok',
});

describe('the preflight runner', () => {
  it('runs the checks concurrently and keeps their order in the table', async () => {
    let releaseFirst!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => (releaseFirst = resolve));
    const results = await runChecks(
      [
        check('first', async () => {
          await firstMayFinish; // finishes only once the second check has started
          return [row('first')];
        }),
        check('second', async () => {
          releaseFirst();
          return [row('second')];
        }),
      ],
      ctx,
      1000,
    );
    expect(results.map((r) => r.check)).toEqual(['first', 'second']);
  });

  it('fails a check that does not answer within its timeout, and not the others', async () => {
    const results = await runChecks(
      [check('slow', () => new Promise(() => {})), check('quick', async () => [row('quick')])],
      ctx,
      50,
    );
    expect(results).toEqual([
      {
        check: 'slow',
        subject: 'eu-west-1',
        status: 'fail',
        detail: 'no answer within 0.05 s',
        fix: expect.stringContaining('--timeout <seconds>'),
      },
      row('quick'),
    ]);
  });

  it('reports a refused call as unverified, naming the permissions the check needs', async () => {
    const [result] = await runChecks(
      [
        check('zones', () =>
          Promise.reject(awsError('UnauthorizedOperation', 'You are not authorized', 403)),
        ),
      ],
      ctx,
      1000,
    );
    expect(result).toMatchObject({
      status: 'unverified',
      detail: 'UnauthorizedOperation: You are not authorized',
      fix: 'Allow zones:Describe, zones:List for the credentials preflight runs with (docs/preflight.md).',
    });
  });

  it('fails a check that throws anything else, with the error', async () => {
    const [result] = await runChecks(
      [check('bootstrap', () => Promise.reject(awsError('ThrottlingException', 'Rate exceeded')))],
      ctx,
      1000,
    );
    expect(result).toMatchObject({ status: 'fail', detail: 'ThrottlingException: Rate exceeded' });
  });
});

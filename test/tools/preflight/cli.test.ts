import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), 'preflight-nocreds-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('npm run preflight without AWS credentials', () => {
  it('explains what it would check and exits 0', async () => {
    // Only PATH and an empty HOME: no AWS_* credentials or profile, shared files that do not
    // exist, and instance metadata switched off (a CI runner on EC2 would otherwise find a role).
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'missing', 'credentials'),
      AWS_CONFIG_FILE: join(home, 'missing', 'config'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'tools/preflight/main.ts', '-c', 'sluice={"region":"eu-west-1"}'],
      { env, cwd: process.cwd(), timeout: 60_000 },
    );
    expect(stdout).toContain('Sluice preflight: no AWS credentials, so nothing was checked.');
    expect(stdout).toContain('With credentials it checks account 111111111111, region eu-west-1');
    for (const id of [
      'account',
      'quotas',
      'zones',
      'bootstrap',
      'certificate',
      'artifacts',
      'images',
    ]) {
      expect(stdout).toMatch(new RegExp(`^  ${id} `, 'm'));
    }
    expect(stdout).toContain("'ml.g5.2xlarge for endpoint usage' ≥ 8");
    expect(stdout).toContain('stack CDKToolkit is complete');
    expect(stdout).toMatch(/CloudFormation \(us-east-1\)/);
    expect(stdout).toContain('docs/preflight.md');
  }, 60_000);
});

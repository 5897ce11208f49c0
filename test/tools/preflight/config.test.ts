import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDeployment, parseContextArgs } from '../../../tools/preflight/config.js';

let project: string;
let home: string;

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'preflight-project-'));
  home = mkdtempSync(join(tmpdir(), 'preflight-home-'));
});
afterEach(() => {
  rmSync(project, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

const write = (dir: string, file: string, value: unknown): void =>
  writeFileSync(join(dir, file), JSON.stringify(value));

describe('the deployment preflight reads', () => {
  it('is the defaults the CDK app synthesizes when no context sets sluice', () => {
    const { config } = loadDeployment({ projectDir: project, homeDir: home });
    expect(config.account).toBe('111111111111');
    expect(config.region).toBe('us-east-1');
  });

  it('takes each context key from the command line, then cdk.json, cdk.context.json, ~/.cdk.json', () => {
    write(home, '.cdk.json', { context: { sluice: { region: 'ap-south-1' }, fromHome: 'home' } });
    write(project, 'cdk.context.json', { sluice: { region: 'eu-west-2' }, fromCache: 'cache' });
    write(project, 'cdk.json', { app: 'x', context: { sluice: { region: 'eu-west-1' } } });
    const files = loadDeployment({ projectDir: project, homeDir: home });
    expect(files.config.region).toBe('eu-west-1');
    expect(files.context).toMatchObject({ fromHome: 'home', fromCache: 'cache' });

    const commandLine = parseContextArgs([
      `sluice={"region":"us-west-2","account":"123456789012"}`,
    ]);
    const overridden = loadDeployment({ projectDir: project, homeDir: home, commandLine });
    expect(overridden.config).toMatchObject({ region: 'us-west-2', account: '123456789012' });
  });

  it('refuses an invalid config with the field to change, as cdk synth does', () => {
    write(project, 'cdk.json', { context: { sluice: { region: 'Europe' } } });
    expect(() => loadDeployment({ projectDir: project, homeDir: home })).toThrow(/region/);
  });

  it('refuses a context argument without a key', () => {
    expect(() => parseContextArgs(['=1'])).toThrow('--context takes key=value, got "=1"');
  });
});

import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { resolveCredentials, sdkClients } from './clients.js';
import { loadDeployment, parseContextArgs } from './config.js';
import { preflight } from './preflight.js';

const USAGE = `Usage: npm run preflight -- [-c key=value]... [--timeout <seconds>]

Checks the AWS account and region the Sluice CDK app would deploy to (docs/preflight.md).
  -c, --context key=value   context, as for cdk deploy (for example -c sluice='{...}')
  --timeout <seconds>       time each check may take (default 30)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      context: { type: 'string', short: 'c', multiple: true, default: [] },
      timeout: { type: 'string', default: '30' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0))
    throw new Error(`--timeout must be a number of seconds, got ${values.timeout}`);
  const deployment = loadDeployment({
    projectDir: process.cwd(),
    homeDir: homedir(),
    commandLine: parseContextArgs(values.context),
  });
  const resolved = await resolveCredentials(deployment.config.region, timeoutMs);
  const { exitCode } = await preflight({
    deployment,
    aws:
      'credentials' in resolved
        ? { clients: sdkClients(resolved.credentials) }
        : { noCredentials: resolved.reason },
    timeoutMs,
    out: (text) => console.log(text),
  });
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`preflight: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

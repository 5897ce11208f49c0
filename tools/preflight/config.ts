import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RootConstruct } from 'constructs';
import { loadSluiceConfig } from '../../cdk/config/load.js';
import type { Deployment } from './types.js';

export interface LoadOptions {
  /** The project root holding `cdk.json` and `cdk.context.json`. */
  readonly projectDir: string;
  /** The user's home, for `~/.cdk.json`. */
  readonly homeDir: string;
  /** `-c key=value` pairs from the command line. @default {} */
  readonly commandLine?: Readonly<Record<string, string>>;
}

/**
 * Reads the deployment exactly as `cdk deploy` hands it to the app: context from the command line,
 * then `cdk.json`, then `cdk.context.json`, then `~/.cdk.json` (the first that sets a key wins, as
 * in the CDK CLI's `Configuration`), validated by the app's own `loadSluiceConfig`.
 *
 * @throws Error naming the invalid field, as `cdk synth` would.
 */
export function loadDeployment(options: LoadOptions): Deployment {
  const sources = [
    options.commandLine ?? {},
    readJson(join(options.projectDir, 'cdk.json'))?.context,
    readJson(join(options.projectDir, 'cdk.context.json')),
    readJson(join(options.homeDir, '.cdk.json'))?.context,
  ];
  const context: Record<string, unknown> = {};
  for (const source of sources.reverse()) {
    if (source && typeof source === 'object') Object.assign(context, source);
  }
  const root = new RootConstruct();
  for (const [key, value] of Object.entries(context)) root.node.setContext(key, value);
  return { config: loadSluiceConfig(root.node), context };
}

/** Parses `key=value` arguments of `-c`/`--context`, as the CDK CLI does (values stay strings). */
export function parseContextArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    if (at < 1) throw new Error(`--context takes key=value, got "${arg}"`);
    out[arg.slice(0, at)] = arg.slice(at + 1);
  }
  return out;
}

function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

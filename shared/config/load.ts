import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { gatewayConfigSchema, type GatewayConfig } from './schema.js';

/** Start-up configuration failure: names the file, the field and what is wrong. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates a parsed config object. `source` names where it came from, for the message.
 * @throws ConfigError listing every invalid field, one per line
 */
export const parseGatewayConfig = (raw: unknown, source = '<inline>'): GatewayConfig => {
  const result = gatewayConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(formatIssues(result.error, source), source);
};

export const formatIssues = (error: z.ZodError, source: string): string => {
  const lines = error.issues.map(
    (i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`,
  );
  return `Invalid configuration in ${source}:\n${lines.join('\n')}`;
};

/**
 * Environment variables that override the file. Only operational knobs: the catalogue itself
 * lives in the file so that it is reviewed like code.
 */
export const ENV_OVERRIDES = {
  SLUICE_MAX_BODY_BYTES: 'maxBodyBytes',
  SLUICE_SAGEMAKER_ENDPOINT_URL: 'upstream.endpointUrl',
  AWS_REGION: 'upstream.region',
  SLUICE_READY_TIMEOUT_MS: 'upstream.readyTimeoutMs',
} as const;

/**
 * Reads the JSON file named by `SLUICE_CONFIG` (or `path`; else the JSON text in
 * `SLUICE_CONFIG_JSON`), applies the overrides in
 * {@link ENV_OVERRIDES}, and validates the result.
 *
 * @example
 * const config = loadGatewayConfig({ env: process.env });
 */
export const loadGatewayConfig = (
  options: { path?: string; env?: NodeJS.ProcessEnv } = {},
): GatewayConfig => {
  const env = options.env ?? process.env;
  const file = options.path ?? env.SLUICE_CONFIG;
  if (!file && env.SLUICE_CONFIG_JSON) {
    // The Lambda deployment passes the catalogue inline: no file to ship beside the bundle.
    let raw: unknown;
    try {
      raw = JSON.parse(env.SLUICE_CONFIG_JSON);
    } catch (err) {
      throw new ConfigError(
        `SLUICE_CONFIG_JSON is not valid JSON: ${(err as Error).message}`,
        'SLUICE_CONFIG_JSON',
      );
    }
    return parseGatewayConfig(
      applyEnvOverrides(raw, env),
      'SLUICE_CONFIG_JSON (with environment overrides)',
    );
  }
  if (!file) {
    throw new ConfigError(
      'No configuration: set SLUICE_CONFIG to the path of a JSON file (or SLUICE_CONFIG_JSON to its text).',
      '<env>',
    );
  }
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `Cannot read configuration file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      path,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `Configuration file ${path} is not valid JSON: ${(err as Error).message}`,
      path,
    );
  }
  return parseGatewayConfig(applyEnvOverrides(raw, env), `${path} (with environment overrides)`);
};

export const applyEnvOverrides = (raw: unknown, env: NodeJS.ProcessEnv): unknown => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out = structuredClone(raw) as Record<string, unknown>;
  for (const [variable, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    const keys = path.split('.');
    let node = out;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1]!;
    node[last] =
      /^\d+$/.test(value) && !path.endsWith('Url') && !path.endsWith('region')
        ? Number(value)
        : value;
  }
  return out;
};

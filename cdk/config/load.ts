import type { Node } from 'constructs';
import { z } from 'zod';
import { sluiceConfigSchema, type SluiceConfig } from './schema.js';

/** The `cdk.json` context key that holds the deployment configuration. */
export const CONTEXT_KEY = 'sluice';

/**
 * Reads and validates the `sluice` context (from `cdk.json` or `-c sluice='{…}'`).
 *
 * @throws Error naming every invalid field, so `cdk synth` stops before any template is written.
 * @example
 * const config = loadSluiceConfig(app.node);
 */
export function loadSluiceConfig(node: Node): SluiceConfig {
  let raw: unknown = node.tryGetContext(CONTEXT_KEY) ?? {};
  if (typeof raw === 'string') raw = JSON.parse(raw);
  return parseSluiceConfig(raw);
}

/** Validates a raw configuration object; exported for tests and tools. */
export function parseSluiceConfig(raw: unknown): SluiceConfig {
  const result = sluiceConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(
      `Invalid "${CONTEXT_KEY}" context in cdk.json:\n${z.prettifyError(result.error)}`,
    );
  }
  // One namespace for endpoint names: own endpoints and shared ones.
  const endpoints = new Set<string>();
  const names = [
    ...result.data.models.flatMap((m) => (m.hosting === 'endpoint' ? [m.endpointName] : [])),
    ...result.data.sharedEndpoints.map((e) => e.name),
  ];
  for (const name of names) {
    if (endpoints.has(name)) {
      throw new Error(`Invalid "${CONTEXT_KEY}" context: endpoint name ${name} is used twice`);
    }
    endpoints.add(name);
  }
  return result.data;
}

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLING } from '../../../cdk/constructs/gateway-function.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Where a bundle lands: `LAMBDA_TASK_ROOT`, holding `index.mjs` (handler `index.handler`). */
export interface GatewayBundle {
  taskRoot: string;
  file: string;
  bytes: number;
}

/**
 * Bundles `functions/gateway/handler.ts` with the options `GatewayFunction` hands to
 * `NodejsFunction` (`BUNDLING`): the flags CDK passes to the local esbuild binary, through
 * esbuild's API. The output is what Lambda would unpack into `LAMBDA_TASK_ROOT`.
 */
export async function bundleGateway(
  entry = path.join(REPO_ROOT, 'functions/gateway/handler.ts'),
): Promise<GatewayBundle> {
  const taskRoot = await mkdtemp(path.join(tmpdir(), 'sluice-gateway-bundle-'));
  const file = path.join(taskRoot, 'index.mjs');
  const result = await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: BUNDLING.format === 'esm' ? 'esm' : 'cjs',
    target: BUNDLING.target,
    minify: BUNDLING.minify,
    sourcemap: BUNDLING.sourceMap,
    mainFields: BUNDLING.mainFields,
    banner: BUNDLING.banner ? { js: BUNDLING.banner } : undefined,
    external: BUNDLING.externalModules,
    absWorkingDir: REPO_ROOT,
    metafile: true,
    logLevel: 'silent',
  });
  const bytes = result.metafile.outputs[path.relative(REPO_ROOT, file)]?.bytes ?? 0;
  return { taskRoot, file, bytes };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
/** The real Node.js Runtime Interface Client's entry (`aws-lambda-ric` on npm). */
export const RIC_ENTRY = path.join(
  path.dirname(require.resolve('aws-lambda-ric/package.json')),
  'index.mjs',
);

export interface RicProcess {
  child: ChildProcess;
  /** Everything the runtime and the gateway wrote (logs), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface RicOptions {
  /** `AWS_LAMBDA_RUNTIME_API`. */
  runtimeApi: string;
  taskRoot: string;
  /** The function's own environment (the gateway's `SLUICE_*` and AWS settings). */
  environment: Record<string, string>;
  /**
   * Managed Instances shape: the RIC runs `workers` worker threads, each taking invocations
   * concurrently (`AWS_LAMBDA_MAX_CONCURRENCY`, `AWS_LAMBDA_NODEJS_WORKER_COUNT`).
   * @default single-concurrency (Lambda default)
   */
  multiConcurrent?: { maxConcurrency: number; workers: number };
}

/** Starts the RIC as Lambda starts it: `_HANDLER=index.handler` in `LAMBDA_TASK_ROOT`. */
export function startRic(options: RicOptions): RicProcess {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_LAMBDA_RUNTIME_API: options.runtimeApi,
    LAMBDA_TASK_ROOT: options.taskRoot,
    _HANDLER: 'index.handler',
    AWS_LAMBDA_FUNCTION_NAME: 'sluice-gateway',
    AWS_LAMBDA_FUNCTION_VERSION: '1',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/sluice-gateway',
    AWS_LAMBDA_LOG_STREAM_NAME: 'test',
    ...options.environment,
    ...(options.multiConcurrent
      ? {
          AWS_LAMBDA_MAX_CONCURRENCY: String(options.multiConcurrent.maxConcurrency),
          AWS_LAMBDA_NODEJS_WORKER_COUNT: String(options.multiConcurrent.workers),
        }
      : {}),
  };
  const child = spawn(process.execPath, [RIC_ENTRY], {
    cwd: options.taskRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    child,
    output: () => log,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

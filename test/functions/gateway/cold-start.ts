import { cpus } from 'node:os';
import { bundleGateway } from './bundle.js';
import { functionUrlEvent } from './function-url-event.js';
import { startRic } from './ric.js';
import { startRuntimeApi } from './runtime-api.js';

/**
 * `npm run lambda:cold-start`: the gateway bundle's cold start under the real Node.js RIC, as
 * Lambda would see it: from starting the runtime process to its first `/next` (init done), and
 * to the first response (a function-URL `GET /healthz`). Prints medians; asserts nothing.
 */
const RUNS = Number(process.env.RUNS ?? 5);

const environment: Record<string, string> = {
  SLUICE_CONFIG_JSON: JSON.stringify({
    models: [{ id: 'chat', kind: 'chat', policy: 'admit', format: 'openai', endpoint: 'chat-ep' }],
  }),
  SLUICE_SAGEMAKER_ENDPOINT_URL: 'http://127.0.0.1:9',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  SLUICE_AUTH_ISSUER: 'http://127.0.0.1:9/pool',
  SLUICE_AUTH_CLIENT_IDS: 'client',
  SLUICE_METRICS: 'emf',
  LOG_LEVEL: 'error',
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bundle = await bundleGateway();
const shapes = [
  { name: 'single-concurrency', multiConcurrent: undefined },
  { name: 'Managed Instances, 2 workers', multiConcurrent: { maxConcurrency: 8, workers: 2 } },
] as const;
console.log(
  `gateway bundle: ${(bundle.bytes / 1024).toFixed(0)} KiB; node ${process.version}; ` +
    `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${RUNS} runs per shape`,
);
for (const shape of shapes) {
  const init: number[] = [];
  const first: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const api = await startRuntimeApi();
    const start = performance.now();
    const ric = startRic({
      runtimeApi: api.address,
      taskRoot: bundle.taskRoot,
      environment,
      ...(shape.multiConcurrent ? { multiConcurrent: shape.multiConcurrent } : {}),
    });
    await api.waitingWorkers(1);
    init.push(performance.now() - start);
    const outcome = await api.invoke(functionUrlEvent({ method: 'GET', path: '/healthz' })).outcome;
    first.push(performance.now() - start);
    if (outcome.kind !== 'streamed' || outcome.prelude?.statusCode !== 200) {
      throw new Error(`cold start run failed: ${JSON.stringify(outcome)}\n${ric.output()}`);
    }
    await ric.stop();
    await api.close();
  }
  console.log(
    `${shape.name}: init (first /next) median ${median(init).toFixed(0)} ms, ` +
      `first response median ${median(first).toFixed(0)} ms`,
  );
}

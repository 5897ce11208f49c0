import { noopMetrics } from '../../edge/metrics/metrics.js';
import { ModelRegistry } from '../../edge/models/registry.js';
import { ModelService } from '../../edge/models/service.js';
import { silentLogger, systemClock } from '../../edge/types.js';
import { parseGatewayConfig } from '../../shared/config/load.js';
import { GpuSimulator } from '../sim/gpu-simulator.js';
import { inProcessInvoker } from '../sim/in-process-invoker.js';
import { percentile, type LoadResult } from './load.js';
import { MAX_BATCH, MODEL } from './setup.js';

/**
 * The coalescer alone: open-loop calls straight into `ModelService` over an in-process
 * simulator, no HTTP. Separates what batching achieves from what HTTP costs on a small box.
 */
export const inProcessRun = async (
  ratePerS: number,
  durationMs: number,
  maxDelayMs: number,
): Promise<LoadResult & { invocationsPerRequest: number; meanBatchFill: number }> => {
  const sim = new GpuSimulator(MODEL);
  const config = parseGatewayConfig({
    models: [
      {
        id: 'm',
        kind: 'embedding',
        policy: 'batch',
        format: 'tei',
        endpoint: 'gpu',
        batch: { maxBatchSize: MAX_BATCH, maxDelayMs, maxInflightBatches: MODEL.slotsPerInstance },
      },
    ],
  });
  const registry = new ModelRegistry(config);
  const service = new ModelService({
    registry,
    invoker: inProcessInvoker({ gpu: sim }),
    clock: systemClock,
    logger: silentLogger,
    metrics: noopMetrics,
  });
  const model = registry.require('m');
  const total = Math.round((ratePerS * durationMs) / 1000);
  const interval = 1000 / ratePerS;
  const latencies: number[] = [];
  let errors = 0;
  let last = 0;
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  let i = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      for (; i < total && start + i * interval <= now; i++) {
        const due = start + i * interval;
        pending.push(
          service
            .embed(model, [`t${i % 7}:r${i}`], {
              requestId: '',
              tenant: `t${i % 7}`,
              signal: new AbortController().signal,
            })
            .then(
              () => {
                last = performance.now();
                latencies.push(last - due);
              },
              () => void errors++,
            ),
        );
      }
      if (i < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return {
    offeredPerS: ratePerS,
    sent: total,
    ok: latencies.length,
    errors,
    throughputPerS: (latencies.length * 1000) / (last - start),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    invocationsPerRequest: sim.stats.invocations / total,
    meanBatchFill: sim.stats.items / Math.max(1, sim.stats.invocations) / MAX_BATCH,
  };
};

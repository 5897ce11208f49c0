import { GpuSimulator } from '../sim/gpu-simulator.js';
import { startSimulator } from '../sim/serve.js';
import { ENDPOINTS, MODEL, type ChildMessage } from './setup.js';

/** The simulator in its own process, so that its work does not skew the gateway's timings. */
const sims = {
  [ENDPOINTS.batched]: new GpuSimulator(MODEL),
  [ENDPOINTS.single]: new GpuSimulator(MODEL),
  [ENDPOINTS.direct]: new GpuSimulator(MODEL),
  [ENDPOINTS.fast]: new GpuSimulator({ alphaMs: 0, betaMs: 0, slotsPerInstance: 4096 }),
};
const server = await startSimulator({ backends: sims });
const send = (m: ChildMessage) => process.send?.(m);
process.on('message', (m: { type: string }) => {
  if (m.type === 'reset') Object.values(sims).forEach((s) => s.resetStats());
  if (m.type === 'stats')
    send({
      type: 'stats',
      stats: Object.fromEntries(Object.entries(sims).map(([k, s]) => [k, { ...s.stats }])),
    });
  if (m.type === 'exit') void server.close().then(() => process.exit(0));
});
send({ type: 'ready', urls: { sim: server.url } });

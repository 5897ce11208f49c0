/**
 * Loaded into the gateway process by the soak (`node --import tsx --import ./test/soak/probe.ts
 * edge/runtime/node-main.ts`): answers the soak's samples over the IPC channel with this
 * process's memory and event-loop delay, so the gateway runs its production entrypoint unchanged.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ProbeSample {
  type: 'sample';
  id: number;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  /** CPU time (user + system) this process has used since it started. */
  cpuMs: number;
  /** Event-loop delay since the previous sample. */
  loop: { p50Ms: number; p99Ms: number; maxMs: number };
}

export interface ProbeRequest {
  type: 'sample';
  id: number;
  /** Run a full garbage collection first (needs `--expose-gc`), so heap figures compare. */
  gc: boolean;
}

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const ms = (ns: number) => Math.round(ns / 1e4) / 100;

if (process.send) {
  process.on('message', (message: ProbeRequest) => {
    if (message?.type !== 'sample') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (message.gc && gc) {
      gc();
      gc();
    }
    const memory = process.memoryUsage();
    const sample: ProbeSample = {
      type: 'sample',
      id: message.id,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      externalBytes: memory.external,
      cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000),
      loop: {
        p50Ms: ms(delay.percentile(50)),
        p99Ms: ms(delay.percentile(99)),
        maxMs: ms(delay.max),
      },
    };
    delay.reset();
    process.send!(sample);
  });
  // The channel alone must not keep the gateway alive; it exits after its drain as it would.
  process.channel?.unref();
}

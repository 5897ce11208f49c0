import { Agent, request } from 'node:http';

/** One kind of request the benchmark sends. */
export interface Target {
  url: string;
  path: string;
  /** Body of the i-th request. */
  body: (i: number) => string;
  headers?: (i: number) => Record<string, string>;
}

export interface LoadResult {
  offeredPerS: number;
  sent: number;
  ok: number;
  errors: number;
  /** Successful responses per second, first send to last answer. */
  throughputPerS: number;
  p50Ms: number;
  p99Ms: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

/** Sends one request; resolves with its status when the whole answer has arrived. */
const send = (target: Target, i: number): Promise<number> =>
  new Promise((resolve) => {
    const u = new URL(target.path, target.url);
    const body = target.body(i);
    const req = request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...target.headers?.(i),
        },
        timeout: 30_000,
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

const summarise = (
  offeredPerS: number,
  latencies: number[],
  sent: number,
  errors: number,
  spanMs: number,
): LoadResult => {
  latencies.sort((a, b) => a - b);
  return {
    offeredPerS,
    sent,
    ok: latencies.length,
    errors,
    throughputPerS: (latencies.length * 1000) / spanMs,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
};

/**
 * Open-loop load: request i is due at `start + i / rate` whatever happened to the ones before,
 * and its latency counts from when it was due, so a stalled server or a late generator shows
 * in the figures instead of slowing the arrivals (no coordinated omission).
 */
export const openLoop = async (
  target: Target,
  ratePerS: number,
  durationMs: number,
): Promise<LoadResult> => {
  const total = Math.max(1, Math.round((ratePerS * durationMs) / 1000));
  const intervalMs = 1000 / ratePerS;
  const latencies: number[] = [];
  let errors = 0;
  let last = 0;
  const inflight: Array<Promise<void>> = [];
  const start = performance.now();
  let i = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      for (; i < total && start + i * intervalMs <= now; i++) {
        const due = start + i * intervalMs;
        inflight.push(
          send(target, i).then((status) => {
            last = performance.now();
            if (status === 200) latencies.push(last - due);
            else errors++;
          }),
        );
      }
      if (i < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(inflight);
  return summarise(ratePerS, latencies, total, errors, last - start);
};

/** Closed loop at concurrency 1: each request leaves when the previous one has answered. */
export const sequential = async (target: Target, count: number, offset = 0): Promise<number[]> => {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const status = await send(target, offset + i);
    if (status === 200) latencies.push(performance.now() - t0);
  }
  return latencies;
};

import type { Outcome } from './load.js';
import type { ProbeSample } from './probe.js';

export interface SoakResult {
  minutes: number;
  rate: number;
  achievedRate: number;
  seed: number;
  outcomes: Outcome[];
  /** Requests still running 30 s after the last arrival. */
  leftInFlight: number;
  /** At the end of the warm-up, and after the last request, each after a full GC. */
  start: ProbeSample;
  end: ProbeSample;
  gatewayErrorLogs: number;
  exitCode: number | null;
  drainMs: number;
  drained: Record<string, unknown> | undefined;
  heapBound: number;
  rssBound: number;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** Prints the soak's result; returns whether it passed. */
export const printReport = (r: SoakResult): boolean => {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const byKind = new Map<string, { count: number; bad: boolean }>();
  for (const o of r.outcomes) {
    const entry = byKind.get(o.kind) ?? { count: 0, bad: o.bad };
    entry.count++;
    byKind.set(o.kind, entry);
  }
  const ok = r.outcomes
    .filter((o) => o.kind === 'ok')
    .map((o) => o.latencyMs)
    .sort((a, b) => a - b);
  const heapGrowth = r.end.heapUsedBytes - r.start.heapUsedBytes;
  const rssGrowth = r.end.rssBytes - r.start.rssBytes;

  out();
  out(
    `requests: ${r.outcomes.length} in ${r.minutes} min (target ${r.rate}/s, sent ${r.achievedRate.toFixed(1)}/s, seed ${r.seed})`,
  );
  out(
    `ok latency: p50 ${percentile(ok, 0.5).toFixed(1)} ms, p99 ${percentile(ok, 0.99).toFixed(1)} ms`,
  );
  out('outcomes by kind:');
  for (const [kind, { count, bad }] of [...byKind].sort((a, b) => b[1].count - a[1].count))
    out(`  ${kind.padEnd(40)} ${String(count).padStart(8)}${bad ? '   <- not allowed' : ''}`);
  out('gateway process (after a full GC):');
  out(
    `  start  rss ${mib(r.start.rssBytes)}, heap ${mib(r.start.heapUsedBytes)}, loop delay p50 ${r.start.loop.p50Ms} ms, p99 ${r.start.loop.p99Ms} ms, max ${r.start.loop.maxMs} ms`,
  );
  out(
    `  end    rss ${mib(r.end.rssBytes)}, heap ${mib(r.end.heapUsedBytes)}, loop delay p50 ${r.end.loop.p50Ms} ms, p99 ${r.end.loop.p99Ms} ms, max ${r.end.loop.maxMs} ms`,
  );
  out(
    `  growth rss ${mib(rssGrowth)} (bound ${mib(r.rssBound)}), heap ${mib(heapGrowth)} (bound ${mib(r.heapBound)})`,
  );
  const perRequest = (r.end.cpuMs - r.start.cpuMs) / Math.max(1, r.outcomes.length);
  out(
    `  cpu ${((r.end.cpuMs - r.start.cpuMs) / 1000).toFixed(1)} s after the warm-up (${perRequest.toFixed(2)} ms a request over the run)`,
  );
  out(`  error log lines: ${r.gatewayErrorLogs}`);
  out(
    `drain on SIGTERM: exit ${r.exitCode} after ${Math.round(r.drainMs)} ms ${r.drained ? JSON.stringify({ inflight: r.drained.inflight, cut: r.drained.cut }) : '(no drained log line)'}`,
  );

  const failures = [
    ...[...byKind].filter(([, v]) => v.bad).map(([k, v]) => `${v.count} ${k}`),
    ...(r.leftInFlight > 0 ? [`${r.leftInFlight} requests never ended`] : []),
    ...(heapGrowth > r.heapBound ? [`heap grew ${mib(heapGrowth)}`] : []),
    ...(rssGrowth > r.rssBound ? [`rss grew ${mib(rssGrowth)}`] : []),
    ...(r.exitCode !== 0 ? [`gateway exited ${r.exitCode} on SIGTERM`] : []),
    ...(r.achievedRate < r.rate * 0.95 ? [`sent only ${r.achievedRate.toFixed(1)}/s`] : []),
  ];
  out(failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`);
  return failures.length === 0;
};

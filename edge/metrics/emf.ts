import type { DispatchReason, GatewayMetrics } from './metrics.js';

/** Namespace and dimension the CloudWatch alarms and dashboard read (see `cdk/`). */
export const EMF_NAMESPACE = 'Sluice/Gateway';

type Unit = 'Count' | 'Milliseconds';

interface Series {
  model: string;
  name: string;
  unit: Unit;
  values: Map<number, number>;
}

export interface EmfMetricsOptions {
  /** Where EMF lines go; CloudWatch Logs picks them up from stdout in Lambda. */
  write?: (line: string) => void;
  /** How often buffered values are flushed. @default 10000 */
  flushIntervalMs?: number;
  now?: () => number;
}

/** EMF allows at most 100 distinct values per metric per line. */
const MAX_VALUES = 100;

/**
 * CloudWatch Embedded Metric Format rendering of {@link GatewayMetrics}. Values are
 * aggregated in process (EMF `Values`/`Counts` pairs) and flushed on an interval, so a busy
 * gateway writes a few log lines per interval rather than one per request.
 */
export class EmfMetrics implements GatewayMetrics {
  private readonly series = new Map<string, Series>();
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(options: EmfMetricsOptions = {}) {
    this.write = options.write ?? ((line) => process.stdout.write(line + '\n'));
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 10_000);
    this.timer.unref();
  }

  request(e: {
    route: string;
    model: string | undefined;
    status: number;
    latencyMs: number;
  }): void {
    const model = e.model ?? 'none';
    this.add(model, 'Requests', 'Count', 1);
    this.add(model, 'Latency', 'Milliseconds', round(e.latencyMs));
    this.add(model, 'Errors5xx', 'Count', e.status >= 500 ? 1 : 0);
    if (e.status === 429) this.add(model, 'Throttled', 'Count', 1);
  }
  queueWait(e: { model: string; target: string; ms: number }): void {
    this.add(e.model, 'QueueWait', 'Milliseconds', round(e.ms));
  }
  batch(e: { model: string; target: string; size: number; reason: DispatchReason }): void {
    this.add(e.model, 'BatchSize', 'Count', e.size);
  }
  inflight(): void {
    // A gauge does not aggregate across environments; Prometheus carries it.
  }
  rejected(e: { model: string; reason: string }): void {
    this.add(e.model, 'Rejected', 'Count', 1);
  }

  /** Writes every buffered series, one line per model, and empties the buffer. */
  flush(): void {
    const byModel = new Map<string, Series[]>();
    for (const s of this.series.values())
      byModel.set(s.model, [...(byModel.get(s.model) ?? []), s]);
    this.series.clear();
    for (const [model, list] of byModel) {
      const record: Record<string, unknown> = { Model: model };
      for (const s of list) {
        record[s.name] = { Values: [...s.values.keys()], Counts: [...s.values.values()] };
      }
      this.write(
        JSON.stringify({
          _aws: {
            Timestamp: this.now(),
            CloudWatchMetrics: [
              {
                Namespace: EMF_NAMESPACE,
                Dimensions: [['Model']],
                Metrics: list.map((s) => ({ Name: s.name, Unit: s.unit })),
              },
            ],
          },
          ...record,
        }),
      );
    }
  }

  /** Stops the timer and flushes what is left. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private add(model: string, name: string, unit: Unit, value: number): void {
    const key = `${model}\u0000${name}`;
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { model, name, unit, values: new Map() }));
    if (!s.values.has(value) && s.values.size >= MAX_VALUES) {
      this.flush();
      this.add(model, name, unit, value);
      return;
    }
    s.values.set(value, (s.values.get(value) ?? 0) + 1);
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

import type { DispatchReason, GatewayMetrics, GenerationMeasures, RetryReason } from './metrics.js';

/** Namespace and dimension the CloudWatch alarms and dashboard read (see `cdk/`). */
export const EMF_NAMESPACE = 'Sluice/Gateway';

type Unit = 'Count' | 'Milliseconds' | 'Count/Second';

interface Series {
  model: string;
  /** Set for the per-target metrics, which carry the dimension sets [Model, Target] and [Model]. */
  target: string | undefined;
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
 * gateway writes a few log lines per interval rather than one per request. The request-level
 * metrics have the dimension `Model`; the per-target ones (tokens, time to first token, time per
 * output token, failovers, retries) both `[Model, Target]` and `[Model]`, so an alarm can watch a
 * model as a whole or one target. Gauges (in flight, circuit state) are Prometheus only.
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
  generation(e: GenerationMeasures): void {
    const at = { model: e.model, target: e.target };
    this.add(at, 'InputTokens', 'Count', e.inputTokens);
    this.add(at, 'OutputTokens', 'Count', e.outputTokens);
    if (e.ttftMs !== undefined) this.add(at, 'TimeToFirstToken', 'Milliseconds', round(e.ttftMs));
    if (e.tpotMs !== undefined) this.add(at, 'TimePerOutputToken', 'Milliseconds', round(e.tpotMs));
    if (e.outputTokensPerSecond !== undefined)
      this.add(at, 'OutputTokensPerSecond', 'Count/Second', round(e.outputTokensPerSecond));
  }
  failover(e: { model: string; from: string; to: string }): void {
    // Target is the one failed away from: the one an alarm on failovers wants to name.
    this.add({ model: e.model, target: e.from }, 'Failovers', 'Count', 1);
  }
  retry(e: { model: string; target: string; reason: RetryReason }): void {
    this.add({ model: e.model, target: e.target }, 'UpstreamRetries', 'Count', 1);
  }
  breakerState(): void {
    // A gauge does not aggregate across environments; Prometheus carries it.
  }
  breakerRefused(): void {
    // Prometheus carries it; the alarms read Failovers and the 5xx count.
  }

  /** Writes every buffered series, one line per model (and target), and empties the buffer. */
  flush(): void {
    const groups = new Map<string, Series[]>();
    for (const s of this.series.values()) {
      const key = `${s.model}\u0000${s.target ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    this.series.clear();
    for (const list of groups.values()) {
      const { model, target } = list[0]!;
      const record: Record<string, unknown> =
        target === undefined ? { Model: model } : { Model: model, Target: target };
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
                Dimensions: target === undefined ? [['Model']] : [['Model', 'Target'], ['Model']],
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

  private add(
    at: string | { model: string; target: string },
    name: string,
    unit: Unit,
    value: number,
  ): void {
    const { model, target } = typeof at === 'string' ? { model: at, target: undefined } : at;
    const key = `${model}\u0000${target ?? ''}\u0000${name}`;
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { model, target, name, unit, values: new Map() }));
    if (!s.values.has(value) && s.values.size >= MAX_VALUES) {
      this.flush();
      this.add(at, name, unit, value);
      return;
    }
    s.values.set(value, (s.values.get(value) ?? 0) + 1);
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why a batch left: it filled, its timer fired, or a slot was free so it went at once. */
export type DispatchReason = 'full' | 'timer' | 'slot';

/**
 * What operators watch: QPS, latency, errors, queue wait, batch size, in-flight work and
 * rejections. The routes and the coalescer report here; Prometheus (`/metrics`) and
 * CloudWatch EMF are two renderings of the same events.
 */
export interface GatewayMetrics {
  request(e: { route: string; model: string | undefined; status: number; latencyMs: number }): void;
  queueWait(e: { model: string; target: string; ms: number }): void;
  batch(e: { model: string; target: string; size: number; reason: DispatchReason }): void;
  inflight(e: { model: string; target: string; delta: 1 | -1 }): void;
  rejected(e: { model: string; reason: string }): void;
}

export const noopMetrics: GatewayMetrics = {
  request() {},
  queueWait() {},
  batch() {},
  inflight() {},
  rejected() {},
};

/** Fans one event out to several sinks. */
export const teeMetrics = (...sinks: GatewayMetrics[]): GatewayMetrics => ({
  request: (e) => sinks.forEach((s) => s.request(e)),
  queueWait: (e) => sinks.forEach((s) => s.queueWait(e)),
  batch: (e) => sinks.forEach((s) => s.batch(e)),
  inflight: (e) => sinks.forEach((s) => s.inflight(e)),
  rejected: (e) => sinks.forEach((s) => s.rejected(e)),
});

/** Prometheus rendering, served at `GET /metrics` to Viewers and above. */
export class PromMetrics implements GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'sluice_requests_total',
    help: 'Requests by route, model and status.',
    labelNames: ['route', 'model', 'status'],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'sluice_request_duration_seconds',
    help: 'Time to response headers (streams: to the first event).',
    labelNames: ['route', 'model'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly wait = new Histogram({
    name: 'sluice_queue_wait_seconds',
    help: 'Time between arrival and dispatch upstream.',
    labelNames: ['model', 'target'],
    buckets: [0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'sluice_batch_size',
    help: 'Items per upstream invocation.',
    labelNames: ['model', 'target', 'reason'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  private readonly inFlight = new Gauge({
    name: 'sluice_inflight',
    help: 'Upstream calls in flight.',
    labelNames: ['model', 'target'],
    registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: 'sluice_rejections_total',
    help: 'Requests refused before dispatch, by reason.',
    labelNames: ['model', 'reason'],
    registers: [this.registry],
  });

  request(e: {
    route: string;
    model: string | undefined;
    status: number;
    latencyMs: number;
  }): void {
    const model = e.model ?? '';
    this.requests.inc({ route: e.route, model, status: String(e.status) });
    this.latency.observe({ route: e.route, model }, e.latencyMs / 1000);
  }
  queueWait(e: { model: string; target: string; ms: number }): void {
    this.wait.observe({ model: e.model, target: e.target }, e.ms / 1000);
  }
  batch(e: { model: string; target: string; size: number; reason: DispatchReason }): void {
    this.batchSize.observe({ model: e.model, target: e.target, reason: e.reason }, e.size);
  }
  inflight(e: { model: string; target: string; delta: 1 | -1 }): void {
    this.inFlight.inc({ model: e.model, target: e.target }, e.delta);
  }
  rejected(e: { model: string; reason: string }): void {
    this.rejections.inc({ model: e.model, reason: e.reason });
  }
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

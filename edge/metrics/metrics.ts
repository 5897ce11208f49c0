import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BreakerState } from '../coalesce/breaker.js';

/** Why a batch left: it filled, its timer fired, or a slot was free so it went at once. */
export type DispatchReason = 'full' | 'timer' | 'slot';

/** Why an upstream call was made again: throttled, unavailable (503), refused or reset. */
export type RetryReason = 'throttled' | 'unavailable' | 'refused' | 'reset';

/**
 * What one generation measured (see docs/operations.md). Token counts are the container's own
 * (`usage`); times are absent where they cannot be measured (no stream, no usage, one token).
 */
export interface GenerationMeasures {
  model: string;
  target: string;
  inputTokens: number;
  outputTokens: number;
  /** Reasoning tokens inside `outputTokens`, where the container reports them. */
  reasoningTokens?: number;
  /** Streams only: entering the pipeline → first content, reasoning or tool-call delta. */
  ttftMs?: number;
  /** Streams only: (last token − first token) / (output tokens − 1). */
  tpotMs?: number;
  /** Output tokens over the time from sending the call upstream to its last token. */
  outputTokensPerSecond?: number;
}

/**
 * What operators watch: QPS, latency, errors, queue wait, batch size, in-flight work,
 * rejections, the LLM measures (time to first token, time per output token, tokens), failovers,
 * retries and circuit state. The routes and the pipelines report here; Prometheus (`/metrics`)
 * and CloudWatch EMF are two renderings of the same events. No tenant is ever a label.
 */
export interface GatewayMetrics {
  request(e: { route: string; model: string | undefined; status: number; latencyMs: number }): void;
  queueWait(e: { model: string; target: string; ms: number }): void;
  batch(e: { model: string; target: string; size: number; reason: DispatchReason }): void;
  inflight(e: { model: string; target: string; delta: 1 | -1 }): void;
  rejected(e: { model: string; reason: string }): void;
  generation(e: GenerationMeasures): void;
  /** A request the weighted choice sent to `from` went to `to` instead. */
  failover(e: { model: string; from: string; to: string }): void;
  retry(e: { model: string; target: string; reason: RetryReason }): void;
  breakerState(e: { model: string; target: string; state: BreakerState }): void;
  /** A call the target's open circuit turned away (failed over or refused). */
  breakerRefused(e: { model: string; target: string }): void;
}

export const noopMetrics: GatewayMetrics = {
  request() {},
  queueWait() {},
  batch() {},
  inflight() {},
  rejected() {},
  generation() {},
  failover() {},
  retry() {},
  breakerState() {},
  breakerRefused() {},
};

/** Fans one event out to several sinks. */
export const teeMetrics = (...sinks: GatewayMetrics[]): GatewayMetrics => ({
  request: (e) => sinks.forEach((s) => s.request(e)),
  queueWait: (e) => sinks.forEach((s) => s.queueWait(e)),
  batch: (e) => sinks.forEach((s) => s.batch(e)),
  inflight: (e) => sinks.forEach((s) => s.inflight(e)),
  rejected: (e) => sinks.forEach((s) => s.rejected(e)),
  generation: (e) => sinks.forEach((s) => s.generation(e)),
  failover: (e) => sinks.forEach((s) => s.failover(e)),
  retry: (e) => sinks.forEach((s) => s.retry(e)),
  breakerState: (e) => sinks.forEach((s) => s.breakerState(e)),
  breakerRefused: (e) => sinks.forEach((s) => s.breakerRefused(e)),
});

const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

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

  private readonly ttft = new Histogram({
    name: 'sluice_time_to_first_token_seconds',
    help: 'Streams: from entering the target pipeline to the first content, reasoning or tool-call delta.',
    labelNames: ['model', 'target'],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly tpot = new Histogram({
    name: 'sluice_time_per_output_token_seconds',
    help: 'Streams: (last token time - first token time) / (output tokens - 1).',
    labelNames: ['model', 'target'],
    buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  private readonly tokensPerSecond = new Histogram({
    name: 'sluice_output_tokens_per_second',
    help: 'Output tokens over the time from sending the call upstream to its last token.',
    labelNames: ['model', 'target'],
    buckets: [1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 500, 1000, 5000],
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'sluice_tokens_total',
    help: 'Tokens the containers reported, by kind (input, output, reasoning; reasoning is part of output).',
    labelNames: ['model', 'target', 'kind'],
    registers: [this.registry],
  });
  private readonly failovers = new Counter({
    name: 'sluice_failovers_total',
    help: 'Requests sent to another target than the weighted choice because its circuit was open.',
    labelNames: ['model', 'from', 'to'],
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'sluice_upstream_retries_total',
    help: 'Upstream calls made again on the same target, by reason.',
    labelNames: ['model', 'target', 'reason'],
    registers: [this.registry],
  });
  private readonly breakerGauge = new Gauge({
    name: 'sluice_breaker_state',
    help: 'Circuit state per target: 0 closed, 1 half-open (probe out), 2 open.',
    labelNames: ['model', 'target'],
    registers: [this.registry],
  });
  private readonly refusals = new Counter({
    name: 'sluice_breaker_refusals_total',
    help: 'Calls an open circuit turned away (failed over to another target or refused with 503).',
    labelNames: ['model', 'target'],
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
  generation(e: GenerationMeasures): void {
    const labels = { model: e.model, target: e.target };
    if (e.ttftMs !== undefined) this.ttft.observe(labels, e.ttftMs / 1000);
    if (e.tpotMs !== undefined) this.tpot.observe(labels, e.tpotMs / 1000);
    if (e.outputTokensPerSecond !== undefined)
      this.tokensPerSecond.observe(labels, e.outputTokensPerSecond);
    this.tokens.inc({ ...labels, kind: 'input' }, e.inputTokens);
    this.tokens.inc({ ...labels, kind: 'output' }, e.outputTokens);
    if (e.reasoningTokens !== undefined)
      this.tokens.inc({ ...labels, kind: 'reasoning' }, e.reasoningTokens);
  }
  failover(e: { model: string; from: string; to: string }): void {
    this.failovers.inc({ model: e.model, from: e.from, to: e.to });
  }
  retry(e: { model: string; target: string; reason: RetryReason }): void {
    this.retries.inc({ model: e.model, target: e.target, reason: e.reason });
  }
  breakerState(e: { model: string; target: string; state: BreakerState }): void {
    this.breakerGauge.set({ model: e.model, target: e.target }, BREAKER_GAUGE[e.state]);
  }
  breakerRefused(e: { model: string; target: string }): void {
    this.refusals.inc({ model: e.model, target: e.target });
  }
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

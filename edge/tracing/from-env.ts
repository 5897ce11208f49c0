import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ConfigError } from '../../shared/config/load.js';
import { GatewayTracer } from './tracer.js';

/** The gateway's tracer and what ends it: `shutdown` exports the spans still buffered. */
export interface Tracing {
  tracer: GatewayTracer;
  shutdown(): Promise<void>;
}

/** OTLP/HTTP's default collector address (the OpenTelemetry exporter specification's). */
const DEFAULT_ENDPOINT = 'http://localhost:4318';

/**
 * Tracing from the environment; off (`undefined`) unless `SLUICE_TRACING=otlp`.
 *
 * - `SLUICE_TRACING`: `otlp` exports spans by OTLP over HTTP (JSON); unset or `off` builds
 *   nothing at all.
 * - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
 *   URL, `/v1/traces` appended): where to. @default http://localhost:4318/v1/traces
 * - `OTEL_SERVICE_NAME`: the `service.name` resource attribute. @default sluice-gateway
 * - `SLUICE_TRACING_SAMPLE_RATIO`: the share of requests traced, 0 to 1. @default 1
 * - `SLUICE_TRACING_CONTENT=true`: record prompts and completions on spans. @default off
 *
 * Spans leave in batches (the SDK's `BatchSpanProcessor`, every 5 s or 512 spans); the exporter
 * itself reads `OTEL_EXPORTER_OTLP_HEADERS` for a collector that wants a key.
 * @throws ConfigError naming the variable when a value is not one of these
 */
export const tracingFromEnv = (env: NodeJS.ProcessEnv = process.env): Tracing | undefined => {
  const mode = env.SLUICE_TRACING ?? '';
  if (mode === '' || mode === 'off') return undefined;
  if (mode !== 'otlp') {
    throw new ConfigError(
      `SLUICE_TRACING must be otlp or off, not ${JSON.stringify(mode)}; unset it to turn tracing off.`,
      'SLUICE_TRACING',
    );
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'sluice-gateway' }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRatio(env)) }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(env) }) }),
    ],
  });
  return {
    tracer: new GatewayTracer({ provider, recordContent: recordContent(env) }),
    shutdown: () => provider.shutdown(),
  };
};

/** @throws ConfigError naming the variable when it is not an http(s) URL */
export const tracesUrl = (env: NodeJS.ProcessEnv): string => {
  const full = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (full) return checkUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', full);
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || DEFAULT_ENDPOINT;
  checkUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base);
  return `${base.replace(/\/+$/, '')}/v1/traces`;
};

const checkUrl = (name: string, value: string): string => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(
      `${name} must be an http or https URL such as http://collector:4318, not ${JSON.stringify(value)}.`,
      name,
    );
  }
  return value;
};

const sampleRatio = (env: NodeJS.ProcessEnv): number => {
  const raw = env.SLUICE_TRACING_SAMPLE_RATIO ?? '';
  if (raw === '') return 1;
  const ratio = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new ConfigError(
      `SLUICE_TRACING_SAMPLE_RATIO must be a number from 0 to 1 (0.1 traces one request in ten), not ${JSON.stringify(raw)}; unset it to trace every request.`,
      'SLUICE_TRACING_SAMPLE_RATIO',
    );
  }
  return ratio;
};

const recordContent = (env: NodeJS.ProcessEnv): boolean => {
  const raw = env.SLUICE_TRACING_CONTENT ?? '';
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(
    `SLUICE_TRACING_CONTENT must be true or false, not ${JSON.stringify(raw)}; unset it to keep prompts and completions out of traces.`,
    'SLUICE_TRACING_CONTENT',
  );
};

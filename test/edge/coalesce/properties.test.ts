import fc from 'fast-check';
import type { GenerationRequest } from '../../../edge/formats/generation.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { InvokeOptions, ModelInvoker } from '../../../edge/invoke/invoker.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import { noopMetrics, type GatewayMetrics } from '../../../edge/metrics/metrics.js';
import { ModelRegistry } from '../../../edge/models/registry.js';
import { ModelService } from '../../../edge/models/service.js';
import { silentLogger, systemClock } from '../../../edge/types.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import type { GatewayConfig } from '../../../shared/config/schema.js';
import { GatewayError } from '../../../shared/errors.js';
import { FAULT_KINDS, GpuSimulator, type FaultKind } from '../../sim/gpu-simulator.js';
import { inProcessInvoker } from '../../sim/in-process-invoker.js';
import { completionOf, embeddingOf } from '../../sim/outputs.js';
import { startSimulator } from '../../sim/serve.js';

/**
 * The coalescer's invariant under random load: every caller receives exactly the output of its
 * own input or an error, none hangs, no output crosses to another caller or tenant, and no
 * batch or admission budget is exceeded.
 */

const settingsArb = fc.record({
  maxBatchSize: fc.integer({ min: 1, max: 8 }),
  maxDelayMs: fc.integer({ min: 0, max: 3 }),
  maxInflightBatches: fc.integer({ min: 1, max: 3 }),
  maxConcurrency: fc.integer({ min: 1, max: 6 }),
  maxQueue: fc.integer({ min: 0, max: 30 }),
  queueTimeoutMs: fc.integer({ min: 5, max: 40 }),
  dedupe: fc.boolean(),
});

/** `arb` with probability `p`, else null. */
const sometimes = <T>(arb: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | null> =>
  fc.oneof(
    { arbitrary: fc.constant(null), weight: Math.round((1 - p) * 100) },
    { arbitrary: arb, weight: Math.round(p * 100) },
  );

const callerArb = (faults: readonly FaultKind[]) =>
  fc.record({
    kind: fc.constantFrom('embed', 'generate', 'stream'),
    tenant: fc.constantFrom('a', 'b', 'c'),
    /** Texts from a small pool repeat across callers and tenants, exercising dedupe. */
    pooled: sometimes(fc.integer({ min: 0, max: 2 }), 0.4),
    inputs: fc.integer({ min: 1, max: 3 }),
    greedy: fc.boolean(),
    arriveAfterMs: fc.integer({ min: 0, max: 3 }),
    abortAfterMs: sometimes(fc.integer({ min: 0, max: 6 }), 0.15),
    deadlineMs: sometimes(fc.integer({ min: 1, max: 30 }), 0.25),
    fault: sometimes(fc.constantFrom(...faults), 0.04),
    priority: fc.constantFrom('interactive' as const, 'batch' as const),
  });

type Caller = fc.Arbitrary<ReturnType<typeof callerArb> extends fc.Arbitrary<infer C> ? C : never>;
type CallerSpec = Caller extends fc.Arbitrary<infer C> ? C : never;
type Settings = typeof settingsArb extends fc.Arbitrary<infer S> ? S : never;

const catalogue = (s: Settings): GatewayConfig => {
  const config = parseGatewayConfig({
    models: [
      {
        id: 'embed',
        kind: 'embedding',
        policy: 'batch',
        format: 'tei',
        endpoint: 'embed-ep',
        dedupe: s.dedupe,
        batch: {
          maxBatchSize: s.maxBatchSize,
          maxDelayMs: s.maxDelayMs,
          maxInflightBatches: s.maxInflightBatches,
        },
      },
      {
        id: 'chat',
        kind: 'chat',
        policy: 'admit',
        format: 'tgi',
        endpoint: 'chat-ep',
        dedupe: s.dedupe,
        admit: {
          maxConcurrency: s.maxConcurrency,
          maxQueue: s.maxQueue,
          queueTimeoutMs: s.queueTimeoutMs,
        },
      },
    ],
    // The service is driven directly: per-caller request limits are not part of this path.
    limits: { enabled: false },
  });
  // Below the schema's floor, so that hung calls end quickly in a test.
  return { ...config, models: config.models.map((m) => ({ ...m, timeoutMs: 30 })) };
};

/** Records which texts went upstream, to prove no tenant rode on another tenant's call. */
const recording = (inner: ModelInvoker) => {
  const sent = new Map<string, number>();
  const note = (o: InvokeOptions) => {
    const inputs = (o.body as { inputs: string | string[] }).inputs;
    for (const t of Array.isArray(inputs) ? inputs : [inputs]) sent.set(t, (sent.get(t) ?? 0) + 1);
  };
  const invoker: ModelInvoker = {
    invoke: (o) => (note(o), inner.invoke(o)),
    invokeStream: (o) => (note(o), inner.invokeStream(o)),
    checkReady: (e, t) => inner.checkReady(e, t),
  };
  return { invoker, sent };
};

/** Budgets seen in flight, per target, through the metrics hooks. */
const budgetMetrics = () => {
  const inflight = new Map<string, number>();
  const peak = new Map<string, number>();
  const batches: number[] = [];
  const metrics: GatewayMetrics = {
    ...noopMetrics,
    inflight: (e) => {
      const n = (inflight.get(e.model) ?? 0) + e.delta;
      inflight.set(e.model, n);
      peak.set(e.model, Math.max(peak.get(e.model) ?? 0, n));
    },
    batch: (e) => batches.push(e.size),
  };
  return { metrics, inflight, peak, batches };
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// Every bound in a generated case is tens of milliseconds, so a caller still waiting after this
// long is stuck; the margin covers a CI box whose two cores run several test files at once.
const HANG_MS = 10_000;

interface Outcome {
  ok: boolean;
  error?: unknown;
  /** Text per input the caller sent. */
  texts: string[];
  received?: unknown;
}

/** Runs one caller and checks what it received against its own input. */
const runCaller = async (
  service: ModelService,
  registry: ModelRegistry,
  spec: CallerSpec,
  id: number,
): Promise<Outcome> => {
  await sleep(spec.arriveAfterMs);
  const controller = new AbortController();
  if (spec.abortAfterMs !== null) setTimeout(() => controller.abort(), spec.abortAfterMs);
  const ctx = {
    requestId: `r${id}`,
    tenant: spec.tenant,
    signal: controller.signal,
    priority: spec.priority,
    ...(spec.deadlineMs !== null ? { deadline: Date.now() + spec.deadlineMs } : {}),
  };
  const marker = spec.fault ? `!fault:${spec.fault}` : '';
  const base = spec.pooled !== null ? `pool${spec.pooled}` : `${spec.tenant}:caller${id}`;
  const texts = Array.from(
    { length: spec.kind === 'embed' ? spec.inputs : 1 },
    (_, i) => `${base}:${i}${marker}`,
  );
  const work = async (): Promise<unknown> => {
    if (spec.kind === 'embed') return service.embed(registry.require('embed'), texts, ctx);
    const request: GenerationRequest = {
      kind: 'completion',
      body: { prompt: texts[0]!, temperature: spec.greedy ? 0 : 0.8 },
      maxTokens: 8,
      choices: 1,
    };
    if (spec.kind === 'generate')
      return (await service.generate(registry.require('chat'), request, ctx)).choices[0]!.content;
    let text = '';
    try {
      for await (const chunk of service.generateStream(registry.require('chat'), request, ctx))
        text += chunk.deltas.map((d) => d.content ?? '').join('');
    } catch (error) {
      // What arrived before a broken stream must still be this caller's own.
      expect(expected(spec, texts[0]!).startsWith(text) || samplePrefix(texts[0]!, text)).toBe(
        true,
      );
      throw error;
    }
    return text;
  };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`caller ${id} hung`)), HANG_MS);
  });
  try {
    const received = await Promise.race([work(), hang]);
    return { ok: true, texts, received };
  } catch (error) {
    if (error instanceof Error && error.message.endsWith('hung')) throw error;
    return { ok: false, error, texts };
  } finally {
    clearTimeout(timer);
  }
};

const expected = (spec: CallerSpec, text: string) => completionOf(text);
const samplePrefix = (prompt: string, text: string) =>
  `${completionOf(prompt)}~`.startsWith(text) || text.startsWith(`${completionOf(prompt)}~`);

/** Checks one outcome; returns the tenants that got a result per text. */
const check = (spec: CallerSpec, outcome: Outcome) => {
  if (!outcome.ok) {
    expect(outcome.error).toBeInstanceOf(GatewayError);
    return;
  }
  if (spec.kind === 'embed') {
    expect(outcome.received).toEqual(outcome.texts.map(embeddingOf));
  } else if (spec.greedy) {
    expect(outcome.received).toBe(completionOf(outcome.texts[0]!));
  } else {
    expect(String(outcome.received)).toMatch(
      new RegExp(`^${escape(completionOf(outcome.texts[0]!))}~\\d+$`),
    );
  }
};

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let generated = 0;

/** Runs a scenario against a service built on `invoker`; asserts every property. */
const scenario = async (
  settings: Settings,
  callers: CallerSpec[],
  makeInvoker: () => ModelInvoker,
) => {
  const config = catalogue(settings);
  const registry = new ModelRegistry(config);
  const { invoker, sent } = recording(makeInvoker());
  const budget = budgetMetrics();
  const service = new ModelService({
    registry,
    invoker,
    clock: systemClock,
    logger: silentLogger,
    metrics: budget.metrics,
  });
  generated += callers.length;
  const outcomes = await Promise.all(callers.map((c, i) => runCaller(service, registry, c, i)));
  callers.forEach((c, i) => check(c, outcomes[i]!));

  // No batch over its size; admission never over its budget; everything given back.
  expect(Math.max(0, ...budget.batches)).toBeLessThanOrEqual(settings.maxBatchSize);
  expect(budget.peak.get('chat') ?? 0).toBeLessThanOrEqual(settings.maxConcurrency);
  await sleep(0);
  expect(budget.inflight.get('chat') ?? 0).toBe(0);

  // Dedupe never crosses tenants: each tenant that got a text's answer had its own upstream copy.
  const tenantsPerText = new Map<string, Set<string>>();
  callers.forEach((c, i) => {
    const o = outcomes[i]!;
    if (!o.ok || (c.kind !== 'embed' && !c.greedy)) return;
    for (const t of o.texts) {
      const set = tenantsPerText.get(t) ?? new Set<string>();
      set.add(c.tenant);
      tenantsPerText.set(t, set);
    }
  });
  for (const [text, tenants] of tenantsPerText)
    expect(sent.get(text) ?? 0).toBeGreaterThanOrEqual(tenants.size);
};

describe('coalescing properties', () => {
  afterAll(() => {
    // The issue asks for at least 10,000 generated requests per CI run.
    expect(generated).toBeGreaterThanOrEqual(10_000);
  });

  it("gives every in-process caller its own output or an error, never another's", async () => {
    await fc.assert(
      fc.asyncProperty(
        settingsArb,
        fc.array(callerArb(FAULT_KINDS), { minLength: 30, maxLength: 60 }),
        (settings, callers) =>
          scenario(settings, callers, () =>
            inProcessInvoker({
              'embed-ep': new GpuSimulator({ alphaMs: 1, betaMs: 0.05, slotsPerInstance: 2 }),
              'chat-ep': new GpuSimulator({
                alphaMs: 1,
                betaMs: 0.05,
                slotsPerInstance: 8,
                tokenMs: 0,
              }),
            }),
          ),
      ),
      { numRuns: Number(process.env.PROP_RUNS ?? 230), endOnFailure: !!process.env.PROP_RUNS },
    );
  }, 120_000);

  it('holds the same over loopback HTTP with the real SDK and simulator', async () => {
    const embedSim = new GpuSimulator({ alphaMs: 2, betaMs: 0.05, slotsPerInstance: 2 });
    const chatSim = new GpuSimulator({ alphaMs: 2, betaMs: 0.05, slotsPerInstance: 8, tokenMs: 0 });
    const server = await startSimulator({ backends: { 'embed-ep': embedSim, 'chat-ep': chatSim } });
    const invoker = new SageMakerInvoker({
      endpointUrl: server.url,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    // Hangs and resets behave the same in process; over HTTP they only cost time here.
    const faults = FAULT_KINDS.filter((k) => k !== 'hang' && k !== 'reset');
    try {
      await fc.assert(
        fc.asyncProperty(
          settingsArb,
          fc.array(callerArb(faults), { minLength: 20, maxLength: 40 }),
          (settings, callers) => scenario(settings, callers, () => invoker),
        ),
        { numRuns: 15 },
      );
    } finally {
      await server.close();
    }
  }, 120_000);
});

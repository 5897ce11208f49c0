import { describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { mapUpstreamError } from '../../../edge/invoke/map-error.js';
import { noopMetrics, type GatewayMetrics } from '../../../edge/metrics/metrics.js';
import { ModelRegistry } from '../../../edge/models/registry.js';
import type { Logger } from '../../../edge/types.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import type { GatewayConfigInput } from '../../../shared/config/schema.js';
import { ScriptedInvoker } from './scripted-invoker.js';

const modelError = () =>
  mapUpstreamError({ name: 'ModelError', OriginalStatusCode: 500 }, 'chat-model');

type ModelInput = GatewayConfigInput['models'][number];

/** A model of two targets (stable on `ep`, canary on `ep/v2`) under a clock the test moves. */
const setup = (
  options: {
    weights?: [number, number];
    model?: Partial<ModelInput>;
    random?: () => number;
  } = {},
) => {
  const [stable, canary] = options.weights ?? [95, 5];
  const config = parseGatewayConfig({
    limits: { enabled: false },
    models: [
      {
        id: 'chat-model',
        kind: 'chat',
        policy: 'admit',
        format: 'tgi',
        targets: [
          { id: 'stable', endpoint: 'ep', weight: stable },
          { id: 'canary', endpoint: 'ep', variant: 'v2', weight: canary },
        ],
        breaker: { failureThreshold: 2, cooldownMs: 1000 },
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
        ...options.model,
      } as ModelInput,
    ],
  });
  let now = 1_000_000;
  const events = { failovers: [] as string[], refusals: 0, states: [] as string[] };
  const metrics: GatewayMetrics = {
    ...noopMetrics,
    failover: (e) => events.failovers.push(`${e.from}->${e.to}`),
    breakerRefused: () => void events.refusals++,
    breakerState: (e) => events.states.push(`${e.target}:${e.state}`),
  };
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void =>
      void lines.push({ level, message, fields });
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
  // One canary pick in twenty: 0, 0.05, …, 0.95 (the canary's share is [0.95, 1)).
  let draw = 0;
  const random = options.random ?? (() => (draw++ % 20) / 20);
  const invoker = new ScriptedInvoker();
  const { app } = createApp({
    config,
    invoker,
    auth: { mode: 'disabled' },
    metrics,
    logger,
    clock: { now: () => now },
    registry: new ModelRegistry(config, { random }),
  });
  const chat = async (stream = false) => {
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat-model',
        messages: [{ role: 'user', content: 'hi' }],
        ...(stream ? { stream: true } : {}),
      }),
    });
    const text = await res.text();
    return { status: res.status, text, code: /"code":"([^"]+)"/.exec(text)?.[1] };
  };
  return { app, invoker, chat, events, lines, advance: (ms: number) => (now += ms) };
};

describe('failover between the targets of a model', () => {
  it('sends the share of a target whose circuit is open to the others, with no client error once it opened', async () => {
    const { invoker, chat, events } = setup();
    invoker.fail('ep/v2', modelError);
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await chat()).status);
    // The canary's first failure reaches its caller; its second opens the circuit, and that
    // caller is served by the stable target instead. Nothing fails after that.
    expect(statuses.filter((s) => s !== 200)).toEqual([502]);
    expect(statuses.slice(statuses.indexOf(502) + 1).every((s) => s === 200)).toBe(true);
    expect(invoker.count('ep/v2')).toBe(2);
    expect(invoker.count('ep')).toBe(199);
    // Ten canary picks in 200: two reached it, eight failed over (one after it opened the circuit).
    expect(events.failovers).toHaveLength(9);
    expect(new Set(events.failovers)).toEqual(new Set(['canary->stable']));
    expect(events.refusals).toBe(8);
  });

  it('answers 503 circuit_open with Retry-After only when every target is out', async () => {
    const { invoker, chat, app } = setup({ weights: [50, 50] });
    invoker.fail('ep', modelError);
    invoker.fail('ep/v2', modelError);
    for (let i = 0; i < 4; i++) await chat();
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await res.json()).error.code).toBe('circuit_open');
    expect(invoker.count('ep') + invoker.count('ep/v2')).toBe(4);
  });

  it('never sends traffic to a target of weight 0, even when the others are open', async () => {
    const { invoker, chat } = setup({ weights: [100, 0] });
    invoker.fail('ep', modelError);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await chat());
    expect(results.map((r) => r.status)).toEqual([502, 502, 503, 503, 503]);
    expect(results.at(-1)!.code).toBe('circuit_open');
    expect(invoker.count('ep/v2')).toBe(0);
  });

  it('lets a half-open target take its probe, and fails a failed probe over to a healthy target', async () => {
    // Always the canary first: its share is [0.95, 1).
    const { invoker, chat, advance, events } = setup({ random: () => 0.99 });
    invoker.fail('ep/v2', modelError);
    expect((await chat()).status).toBe(502);
    expect((await chat()).status).toBe(200); // opened the circuit, served by stable
    expect((await chat()).status).toBe(200); // failed over at the pick
    expect(invoker.count('ep/v2')).toBe(2);
    advance(1000);
    // The probe goes to the canary, fails, and its caller is served by stable.
    expect((await chat()).status).toBe(200);
    expect(invoker.count('ep/v2')).toBe(3);
    invoker.scripts.delete('ep/v2');
    advance(1000);
    expect((await chat()).status).toBe(200);
    expect(invoker.count('ep/v2')).toBe(4);
    expect(events.states.filter((s) => s.startsWith('canary'))).toEqual([
      'canary:closed',
      'canary:open',
      'canary:half-open',
      'canary:open',
      'canary:half-open',
      'canary:closed',
    ]);
  });

  it('fails a stream over before its first event, never after', async () => {
    const { invoker, chat } = setup({ random: () => 0.99 });
    invoker.fail('ep/v2', modelError);
    expect((await chat(true)).status).toBe(502);
    const second = await chat(true);
    expect(second.status).toBe(200);
    expect(second.text).toContain('[DONE]');
    expect(invoker.count('ep/v2')).toBe(2);
  });

  it('logs each change of circuit state once and no line per refused request', async () => {
    const { invoker, chat, lines } = setup({ weights: [100, 0] });
    invoker.fail('ep', modelError);
    for (let i = 0; i < 20; i++) await chat();
    const circuit = lines.filter((l) => l.message.startsWith('circuit'));
    expect(circuit.map((l) => [l.level, l.message])).toEqual([['warn', 'circuit open']]);
    expect(circuit[0]!.fields).toMatchObject({ model: 'chat-model', target: 'stable' });
    // The two upstream failures are errors; the eighteen refusals are not.
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { realScheduler, type Scheduler } from '../../../edge/coalesce/scheduler.js';
import { mapUpstreamError } from '../../../edge/invoke/map-error.js';
import { PromMetrics, type GenerationMeasures } from '../../../edge/metrics/metrics.js';
import { ModelRegistry } from '../../../edge/models/registry.js';
import type { Logger } from '../../../edge/types.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import { ScriptedInvoker } from '../models/scripted-invoker.js';

/**
 * A model on two targets, the gateway's clock under the test's hand: the container's stream moves
 * it 100 ms before its first token and 20 ms before each next one.
 */
const setup = () => {
  const config = parseGatewayConfig({
    limits: { enabled: false },
    models: [
      {
        id: 'chat-model',
        kind: 'chat',
        policy: 'admit',
        format: 'openai',
        targets: [
          { id: 'stable', endpoint: 'ep', weight: 50 },
          { id: 'canary', endpoint: 'ep', variant: 'v2', weight: 50 },
        ],
        breaker: { failureThreshold: 2, cooldownMs: 60_000 },
        retry: { baseDelayMs: 1, maxDelayMs: 2 },
      },
    ],
  });
  let now = 0;
  const scheduler: Scheduler = { ...realScheduler, now: () => now };
  const invoker = new ScriptedInvoker();
  invoker.streamEvents = async function* () {
    const tokens = ['The', ' answer', ' is', ' 42', '.'];
    for (const [i, text] of tokens.entries()) {
      now += i === 0 ? 100 : 20;
      yield {
        choices: [
          { index: 0, delta: { ...(i === 0 ? { role: 'assistant' } : {}), content: text } },
        ],
      };
    }
    yield { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] };
    yield {
      choices: [],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 5,
        total_tokens: 17,
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    };
  };
  invoker.answer = () => ({
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });
  const prometheus = new PromMetrics();
  const generations: GenerationMeasures[] = [];
  const metrics = Object.assign(Object.create(prometheus) as PromMetrics, {
    generation: (e: GenerationMeasures) => {
      generations.push(e);
      prometheus.generation(e);
    },
  });
  const lines: Array<{ message: string; fields: Record<string, unknown> }> = [];
  const keep = (fields: Record<string, unknown>, message: string) =>
    void lines.push({ message, fields });
  const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
  const { app } = createApp({
    config,
    invoker,
    auth: { mode: 'disabled' },
    scheduler,
    random: () => 0.5,
    metrics,
    prometheus,
    logger,
    // Stable first (0.1 < 0.5), then canary (0.9).
    registry: new ModelRegistry(config, { random: sequence([0.1, 0.9]) }),
  });
  const chat = async (content: string, stream: boolean) => {
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content }], stream }),
    });
    return { status: res.status, text: await res.text() };
  };
  return { invoker, chat, generations, lines, prometheus };
};

const sequence = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('LLM measures', () => {
  it('measures time to first token and time per output token of a stream from the container’s usage', async () => {
    const { chat, generations } = setup();
    expect((await chat('secret prompt', true)).status).toBe(200);
    expect(generations).toEqual([
      {
        model: 'chat-model',
        target: 'stable',
        inputTokens: 12,
        outputTokens: 5,
        reasoningTokens: 0,
        ttftMs: 100,
        // (180 − 100) / (5 − 1)
        tpotMs: 20,
        // 5 tokens over the 180 ms from sending to the last token
        outputTokensPerSecond: 27.778,
      },
    ]);
  });

  it('records tokens and tokens/s but no token timings for a call that does not stream', async () => {
    const { chat, generations } = setup();
    expect((await chat('hi', false)).status).toBe(200);
    expect(generations).toHaveLength(1);
    expect(generations[0]).toMatchObject({ inputTokens: 3, outputTokens: 2, target: 'stable' });
    expect(generations[0]!.ttftMs).toBeUndefined();
    expect(generations[0]!.tpotMs).toBeUndefined();
  });

  it('writes one log line per generation with the tenant and the measures, never the content', async () => {
    const { chat, lines } = setup();
    await chat('secret prompt', true);
    const generation = lines.filter((l) => l.message === 'generation');
    expect(generation).toHaveLength(1);
    expect(generation[0]!.fields).toMatchObject({
      tenant: 'local',
      model: 'chat-model',
      target: 'stable',
      inputTokens: 12,
      outputTokens: 5,
      ttftMs: 100,
      tpotMs: 20,
      stream: true,
    });
    const all = JSON.stringify(lines);
    expect(all).not.toContain('secret prompt');
    expect(all).not.toContain('answer');
  });

  it('shows every series on /metrics after a short load, without a tenant label', async () => {
    const { invoker, chat, prometheus } = setup();
    // The canary answers 503 once (a retry), then fails for good: its circuit opens and the
    // stable target takes its share.
    invoker.fail('ep/v2', (n) =>
      n === 1
        ? mapUpstreamError({ name: 'ServiceUnavailable' }, 'chat-model')
        : mapUpstreamError({ name: 'ModelError', OriginalStatusCode: 500 }, 'chat-model'),
    );
    for (let i = 0; i < 6; i++) await chat(`q${i}`, i % 2 === 0);
    const text = await prometheus.render();
    for (const name of [
      'sluice_time_to_first_token_seconds_bucket{le="0.1",model="chat-model",target="stable"}',
      'sluice_time_per_output_token_seconds_count{model="chat-model",target="stable"}',
      'sluice_output_tokens_per_second_count{model="chat-model",target="stable"}',
      'sluice_tokens_total{model="chat-model",target="stable",kind="input"}',
      'sluice_tokens_total{model="chat-model",target="stable",kind="output"}',
      'sluice_tokens_total{model="chat-model",target="stable",kind="reasoning"}',
      'sluice_failovers_total{model="chat-model",from="canary",to="stable"}',
      'sluice_upstream_retries_total{model="chat-model",target="canary",reason="unavailable"} 1',
      'sluice_breaker_state{model="chat-model",target="canary"} 2',
      'sluice_breaker_state{model="chat-model",target="stable"} 0',
      'sluice_breaker_refusals_total{model="chat-model",target="canary"}',
      'sluice_queue_wait_seconds_count{model="chat-model",target="stable"}',
    ])
      expect(text).toContain(name);
    expect(text).not.toContain('tenant');
  });
});

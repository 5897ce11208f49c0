import { describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { realScheduler, type Scheduler } from '../../../edge/coalesce/scheduler.js';
import { mapUpstreamError } from '../../../edge/invoke/map-error.js';
import { noopMetrics, type RetryReason } from '../../../edge/metrics/metrics.js';
import { backoffMs, RetryBudget, retryReason } from '../../../edge/models/retry.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import type { GatewayConfigInput } from '../../../shared/config/schema.js';
import {
  GatewayTimeoutError,
  InvalidRequestError,
  RateLimitError,
  ServiceUnavailableError,
} from '../../../shared/errors.js';
import { ScriptedInvoker } from './scripted-invoker.js';

const upstream = (failure: Record<string, unknown>) => mapUpstreamError(failure, 'm');

describe('retryReason', () => {
  it.each([
    ['SageMaker throttling', { name: 'ThrottlingException' }, 'throttled'],
    ['ServiceUnavailable', { name: 'ServiceUnavailable' }, 'unavailable'],
    ['ModelNotReadyException', { name: 'ModelNotReadyException' }, 'unavailable'],
    ['HTTP 503 without a type', { $metadata: { httpStatusCode: 503 } }, 'unavailable'],
    ['a refused connection', { code: 'ECONNREFUSED' }, 'refused'],
    ['a reset connection', { name: 'TimeoutError', code: 'ECONNRESET' }, 'reset'],
    ['the container’s 429', { name: 'ModelError', OriginalStatusCode: 429 }, undefined],
    ['the container’s 400', { name: 'ModelError', OriginalStatusCode: 400 }, undefined],
    ['the container’s 500', { name: 'ModelError', OriginalStatusCode: 500 }, undefined],
    ['a timeout', { name: 'TimeoutError' }, undefined],
    ['InternalFailure', { name: 'InternalFailure' }, undefined],
    ['a ValidationError', { name: 'ValidationError' }, undefined],
  ] as const)('reads %s as %s', (_, failure, reason) => {
    expect(retryReason(upstream(failure))).toBe(reason);
  });

  it('never retries the gateway’s or the client’s own errors, whatever their status', () => {
    for (const e of [
      new RateLimitError('queue full', 1, { code: 'queue_full' }),
      new ServiceUnavailableError('circuit open', 1, { code: 'circuit_open' }),
      new GatewayTimeoutError('queued too long', { code: 'queue_timeout' }),
      new InvalidRequestError('bad'),
      new TypeError('a defect'),
    ])
      expect(retryReason(e)).toBeUndefined();
  });
});

describe('backoffMs', () => {
  const options = { baseDelayMs: 100, maxDelayMs: 1000 };

  it('draws full jitter under a ceiling that doubles per retry up to maxDelayMs', () => {
    expect(backoffMs(options, 1, () => 0.999)).toBeCloseTo(99.9);
    expect(backoffMs(options, 3, () => 0.5)).toBe(200);
    expect(backoffMs(options, 10, () => 0.5)).toBe(500);
    expect(backoffMs(options, 2, () => 0)).toBe(0);
  });

  it('waits at least the upstream’s Retry-After, and not at all past maxDelayMs', () => {
    expect(backoffMs(options, 1, () => 0.1, 700)).toBe(700);
    expect(backoffMs(options, 1, () => 0.1, 1001)).toBeUndefined();
  });
});

describe('RetryBudget', () => {
  it('allows the minimum whatever the traffic, then a share of first attempts', () => {
    let now = 0;
    const budget = new RetryBudget(
      { budgetPercent: 10, budgetMinRetries: 2, budgetWindowMs: 10_000 },
      () => now,
    );
    expect([budget.withdraw(), budget.withdraw(), budget.withdraw()]).toEqual([true, true, false]);
    for (let i = 0; i < 50; i++) budget.first();
    // 10% of 50 is 5: three more beyond the two taken.
    const more = Array.from({ length: 5 }, () => budget.withdraw());
    expect(more).toEqual([true, true, true, false, false]);
    now += 10_000;
    // The window slid past all of it: the minimum again.
    expect([budget.withdraw(), budget.withdraw(), budget.withdraw()]).toEqual([true, true, false]);
  });
});

/** Real timers, with every wait the pipeline asks for recorded. */
const recordingScheduler = () => {
  const waits: number[] = [];
  const scheduler: Scheduler = {
    ...realScheduler,
    after: (ms, fn) => {
      waits.push(ms);
      return realScheduler.after(0, fn);
    },
  };
  return { scheduler, waits };
};

type ModelInput = GatewayConfigInput['models'][number];

const setup = (model: Partial<ModelInput> = {}) => {
  const config = parseGatewayConfig({
    limits: { enabled: false },
    models: [
      {
        id: 'chat-model',
        kind: 'chat',
        policy: 'admit',
        format: 'tgi',
        endpoint: 'ep',
        retry: { baseDelayMs: 100, maxDelayMs: 1000 },
        ...model,
      } as ModelInput,
    ],
  });
  const invoker = new ScriptedInvoker();
  const retries: RetryReason[] = [];
  const { scheduler, waits } = recordingScheduler();
  const { app } = createApp({
    config,
    invoker,
    auth: { mode: 'disabled' },
    scheduler,
    random: () => 0.5,
    metrics: { ...noopMetrics, retry: (e) => retries.push(e.reason) },
  });
  const chat = async (extra: Record<string, unknown> = {}) => {
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat-model',
        messages: [{ role: 'user', content: 'hi' }],
        ...extra,
      }),
    });
    const text = await res.text();
    return { status: res.status, text, code: /"code":"([^"]+)"/.exec(text)?.[1] };
  };
  return { invoker, chat, retries, waits };
};

const throttled = () => upstream({ name: 'ThrottlingException' });
const reset = () => upstream({ name: 'TimeoutError', code: 'ECONNRESET' });

describe('retries through the pipeline', () => {
  it('retries throttling with jittered exponential backoff and answers the caller', async () => {
    const { invoker, chat, retries, waits } = setup();
    invoker.fail('ep', (n) => (n <= 2 ? throttled() : undefined));
    expect((await chat()).status).toBe(200);
    expect(invoker.count('ep')).toBe(3);
    expect(retries).toEqual(['throttled', 'throttled']);
    expect(waits).toEqual([50, 100]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const { invoker, chat } = setup({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    invoker.fail('ep', () => upstream({ name: 'ServiceUnavailable' }));
    const res = await chat();
    expect([res.status, res.code]).toEqual([503, 'upstream_unavailable']);
    expect(invoker.count('ep')).toBe(2);
  });

  it.each([
    ['429', 429, 'model_overloaded'],
    ['400', 400, 'model_rejected_input'],
    ['500', 502, 'model_error'],
  ] as const)('never retries the container’s own %s', async (original, status, code) => {
    const { invoker, chat, retries } = setup();
    invoker.fail('ep', () =>
      upstream({ name: 'ModelError', OriginalStatusCode: Number(original) }),
    );
    const res = await chat();
    expect([res.status, res.code]).toEqual([status, code]);
    expect(invoker.count('ep')).toBe(1);
    expect(retries).toEqual([]);
  });

  it('honours the upstream’s Retry-After, and does not retry when it asks for longer than maxDelayMs', async () => {
    const { invoker, chat, waits } = setup();
    const after = (ms: number) =>
      upstream({
        name: 'ThrottlingException',
        $response: { headers: { 'retry-after': String(ms / 1000) } },
      });
    invoker.fail('ep', (n) => (n === 1 ? after(800) : undefined));
    expect((await chat()).status).toBe(200);
    expect(waits).toEqual([800]);
    invoker.fail('ep', () => after(5000));
    expect((await chat()).status).toBe(429);
    expect(invoker.count('ep')).toBe(3);
  });

  it('does not retry past the request’s own deadline (the model’s timeoutMs)', async () => {
    const { invoker, chat } = setup({
      timeoutMs: 100,
      retry: { baseDelayMs: 1000, maxDelayMs: 1000 },
    });
    invoker.fail('ep', () => throttled());
    // The first backoff (500 ms) would end past the 100 ms the request has.
    expect((await chat()).status).toBe(429);
    expect(invoker.count('ep')).toBe(1);
  });

  it('spends at most the model’s retry budget on a failing endpoint', async () => {
    const { invoker, chat, retries } = setup({
      retry: { budgetPercent: 0, budgetMinRetries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    });
    invoker.fail('ep', () => throttled());
    for (let i = 0; i < 5; i++) expect((await chat()).status).toBe(429);
    expect(retries).toHaveLength(3);
    expect(invoker.count('ep')).toBe(5 + 3);
  });

  it('retries a stream that fails before its first event', async () => {
    const { invoker, chat, retries } = setup();
    invoker.fail('ep', (n) => (n === 1 ? reset() : undefined));
    const res = await chat({ stream: true });
    expect(res.status).toBe(200);
    expect(res.text).toContain('[DONE]');
    expect(retries).toEqual(['reset']);
  });

  it('never retries a stream once it yielded', async () => {
    const { invoker, chat, retries } = setup();
    invoker.streamEvents = async function* () {
      yield { token: { id: 1, text: 'half', special: false } };
      throw reset();
    };
    const res = await chat({ stream: true });
    expect(res.status).toBe(200);
    expect(res.text).toContain('upstream_connection_reset');
    expect(res.text).not.toContain('[DONE]');
    expect(invoker.count('ep')).toBe(1);
    expect(retries).toEqual([]);
  });
});

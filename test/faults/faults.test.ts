import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EndpointFault } from '../../local/endpoint/backend.js';
import type { GatewayConfigInput } from '../../shared/config/schema.js';
import { completionOf, embeddingOf } from '../sim/outputs.js';
import { CASE_DEADLINE_MS, seeded, startRig, type Answer, type Rig } from './rig.js';
import { notJson, ScriptedBackend } from './scripted-backend.js';

/**
 * The fault suite: each fault an endpoint or the network can produce, injected over real sockets
 * between the real gateway and a SageMaker-compatible endpoint, and the outcome a client sees
 * (README, "Errors"). Every client call has a deadline (`CASE_DEADLINE_MS`): nothing hangs.
 */

type Models = GatewayConfigInput['models'];

const chatModel = (id: string, endpoint: string, extra: Partial<Models[number]> = {}) =>
  ({
    id,
    kind: 'chat',
    policy: 'admit',
    format: 'tgi',
    endpoint,
    timeoutMs: 3000,
    // Circuits stay closed here: the failover cases below test them.
    breaker: { failureThreshold: 1000 },
    retry: { baseDelayMs: 10, maxDelayMs: 100, budgetMinRetries: 1000 },
    ...extra,
  }) as Models[number];

const chat = (model: string, content: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content }],
  max_tokens: 16,
  // Greedy unless a case samples: the answer is then a pure function of the prompt.
  temperature: 0,
  ...extra,
});
const embed = (input: string[]) => ({ model: 'embed', input });
const vectorsOf = (a: Answer): number[][] =>
  (JSON.parse(a.text) as { data: Array<{ embedding: number[] }> }).data.map((d) => d.embedding);
const contentOf = (a: Answer): string =>
  (JSON.parse(a.text) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message
    .content;
const streamed = (a: Answer): string =>
  [...a.text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
/** The prompt the TGI codec renders for one user message (chatml). */
const prompt = (content: string) =>
  `<|im_start|>user\n${content}<|im_end|>\n<|im_start|>assistant\n`;

describe('fault suite: one endpoint misbehaving', () => {
  const chatEp = new ScriptedBackend({ alphaMs: 2, betaMs: 0, slotsPerInstance: 8, tokenMs: 5 });
  const embedEp = new ScriptedBackend({ alphaMs: 5, betaMs: 0.1, slotsPerInstance: 2 });
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({
      models: [
        chatModel('chat', 'chat-ep'),
        chatModel('hasty', 'chat-ep', { timeoutMs: 300 }),
        chatModel('patient', 'chat-ep', {
          retry: { maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 400, budgetMinRetries: 1000 },
        }),
        {
          id: 'embed',
          kind: 'embedding',
          policy: 'batch',
          format: 'tei',
          endpoint: 'embed-ep',
          batch: { maxBatchSize: 8, maxDelayMs: 5, maxInflightBatches: 1 },
          breaker: { failureThreshold: 1000 },
        },
      ],
      backends: { 'chat-ep': chatEp, 'embed-ep': embedEp },
    });
  });
  afterAll(() => rig.close());
  beforeEach(() => {
    chatEp.sim.resetStats();
    embedEp.sim.resetStats();
    rig.proxy.mode = 'pass';
  });

  it('answers a container 5xx with 502 model_error, without retrying it', async () => {
    chatEp.sim.inject('5xx');
    const a = await rig.post('/v1/chat/completions', chat('chat', 'five hundred'));
    expect([a.status, a.code]).toEqual([502, 'model_error']);
    expect(chatEp.sim.stats.invocations).toBe(1);
  });

  it('retries throttling and answers 200 when the endpoint recovers', async () => {
    chatEp.sim.inject('throttle');
    const a = await rig.post('/v1/chat/completions', chat('chat', 'throttled once'));
    expect(a.status).toBe(200);
    expect(contentOf(a)).toBe(completionOf(prompt('throttled once')));
    expect(await rig.metrics.render()).toMatch(
      /sluice_upstream_retries_total\{model="chat",target="default",reason="throttled"\} [1-9]/,
    );
  });

  it('answers throttling that persists with 429 upstream_throttled and Retry-After', async () => {
    chatEp.sim.inject('throttle', 3);
    const a = await rig.post('/v1/chat/completions', chat('chat', 'throttled'));
    expect([a.status, a.code]).toEqual([429, 'upstream_throttled']);
    expect(a.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(chatEp.sim.stats.invocations).toBe(3);
  });

  it('answers a hung endpoint with 504 upstream_timeout at the model timeout', async () => {
    chatEp.sim.inject('hang');
    const started = Date.now();
    const a = await rig.post('/v1/chat/completions', chat('hasty', 'hangs'));
    expect([a.status, a.code]).toEqual([504, 'upstream_timeout']);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('retries a connection reset before any byte and answers 200', async () => {
    rig.proxy.fault('reset', 1);
    const a = await rig.post('/v1/chat/completions', chat('chat', 'reset once'));
    expect(a.status).toBe(200);
    expect(rig.proxy.resets).toBeGreaterThanOrEqual(1);
    expect(await rig.metrics.render()).toMatch(/reason="reset"\} [1-9]/);
  });

  it('answers resets that persist with 502 upstream_connection_reset', async () => {
    rig.proxy.fault('reset');
    const a = await rig.post('/v1/chat/completions', chat('chat', 'always reset'));
    expect([a.status, a.code]).toEqual([502, 'upstream_connection_reset']);
  });

  it('answers a body that is not JSON with 502 bad_upstream_response', async () => {
    chatEp.next(notJson);
    const a = await rig.post('/v1/chat/completions', chat('chat', 'html'));
    expect([a.status, a.code]).toEqual([502, 'bad_upstream_response']);
  });

  it('fails every caller of a batch answered with the wrong vector count with 502 batch_size_mismatch', async () => {
    embedEp.sim.inject('wrong-count');
    const inputs = [['w:1'], ['w:2', 'w:3'], ['w:4']];
    const answers = await Promise.all(inputs.map((i) => rig.post('/v1/embeddings', embed(i))));
    expect(answers.some((a) => a.code === 'batch_size_mismatch')).toBe(true);
    for (const [i, a] of answers.entries()) {
      if (a.status === 200) expect(vectorsOf(a)).toEqual(inputs[i]!.map(embeddingOf));
      else expect([a.status, a.code]).toEqual([502, 'batch_size_mismatch']);
    }
  });

  it('ends a stream the container breaks midway with an error event and no [DONE]', async () => {
    chatEp.sim.inject('broken-stream');
    const a = await rig.post('/v1/chat/completions', chat('chat', 'breaks', { stream: true }));
    expect(a.status).toBe(200);
    expect(a.code).toBe('model_stream_error');
    expect(a.text).not.toContain('[DONE]');
  });

  it('ends a stream the network cuts midway with an error event and no [DONE], never retried', async () => {
    rig.proxy.fault('cut-stream', 1);
    rig.proxy.cutAfterChunks = 3;
    const content = 'a long answer cut by the network';
    const a = await rig.post('/v1/chat/completions', chat('chat', content, { stream: true }));
    expect(a.status).toBe(200);
    expect(a.text).not.toContain('[DONE]');
    expect(a.code).toBe('upstream_connection_reset');
    // What did arrive is the start of this caller's own answer.
    expect(completionOf(prompt(content)).replace(/\n/g, '\\n')).toContain(streamed(a));
    expect(chatEp.sim.stats.invocations).toBe(0); // streams do not count invocations
  });

  it('retries refused connections while the endpoint restarts, then serves', async () => {
    const refusedRetries =
      /sluice_upstream_retries_total\{model="patient",target="default",reason="refused"\} [1-9]/;
    await rig.proxy.stop();
    const during = rig.post('/v1/chat/completions', chat('patient', 'during a restart'));
    // Back up as soon as the gateway has been refused once and is waiting to retry.
    const until = Date.now() + 2000;
    while (!refusedRetries.test(await rig.metrics.render()) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 2));
    await rig.proxy.start();
    const a = await during;
    expect(a.status).toBe(200);
    expect(contentOf(a)).toBe(completionOf(prompt('during a restart')));
    expect(await rig.metrics.render()).toMatch(refusedRetries);
  });

  it('answers 503 upstream_unreachable with Retry-After while the endpoint stays down', async () => {
    await rig.proxy.stop();
    try {
      const a = await rig.post('/v1/chat/completions', chat('chat', 'nobody listens'));
      expect([a.status, a.code]).toEqual([503, 'upstream_unreachable']);
      expect(a.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await rig.proxy.start();
    }
  });

  it('gives every concurrent caller its own answer or an error, never another caller’s', async () => {
    const tenants = ['a', 'b', 'c'];
    const embeds = Array.from({ length: 48 }, (_, i) => {
      const fault = i % 11 === 5 ? '!fault:wrong-count' : '';
      return [`${tenants[i % 3]}:e${i}:x${fault}`, `${tenants[i % 3]}:e${i}:y`];
    });
    const chats = Array.from({ length: 24 }, (_, i) => {
      const fault = i % 7 === 3 ? ' !fault:5xx' : '';
      return `${tenants[i % 3]} asks ${i}${fault}`;
    });
    const [embedAnswers, chatAnswers] = await Promise.all([
      Promise.all(
        embeds.map((input, i) => rig.post('/v1/embeddings', embed(input), tenants[i % 3])),
      ),
      Promise.all(
        chats.map((c, i) =>
          rig.post('/v1/chat/completions', chat('chat', c, { temperature: 0.7 }), tenants[i % 3]),
        ),
      ),
    ]);
    let served = 0;
    for (const [i, a] of embedAnswers.entries()) {
      if (a.status !== 200) {
        expect([a.status, a.code]).toEqual([502, 'batch_size_mismatch']);
        continue;
      }
      served++;
      expect(vectorsOf(a)).toEqual(embeds[i]!.map(embeddingOf));
    }
    for (const [i, a] of chatAnswers.entries()) {
      if (a.status !== 200) {
        expect([a.status, a.code, chats[i]]).toEqual([502, 'model_error', chats[i]]);
        expect(chats[i]).toContain('!fault:5xx');
        continue;
      }
      served++;
      // Sampled answers carry a per-call suffix: the prefix is this caller's own prompt.
      expect(contentOf(a).startsWith(`${completionOf(prompt(chats[i]!))}~`)).toBe(true);
    }
    expect(served).toBeGreaterThan(48);
  });
});

describe('fault suite: the JWKS endpoint down', () => {
  const models = [chatModel('chat', 'chat-ep')];

  it('answers 503 jwks_unavailable with Retry-After when keys were never fetched', async () => {
    const rig = await startRig({ models, backends: { 'chat-ep': new ScriptedBackend() } });
    try {
      await rig.jwks.close();
      const a = await rig.post('/v1/chat/completions', chat('chat', 'hi'));
      expect([a.status, a.code]).toEqual([503, 'jwks_unavailable']);
      expect(a.headers.get('retry-after')).toBe('5');
    } finally {
      await rig.close();
    }
  });

  it('keeps verifying with the keys it fetched before the JWKS went down', async () => {
    const rig = await startRig({ models, backends: { 'chat-ep': new ScriptedBackend() } });
    try {
      expect((await rig.post('/v1/chat/completions', chat('chat', 'before'))).status).toBe(200);
      await rig.jwks.close();
      // A new token (not in the verified-token cache), checked against the cached keys.
      const after = await rig.post('/v1/chat/completions', chat('chat', 'after'), 't0', true);
      expect(after.status).toBe(200);
    } finally {
      await rig.close();
    }
  });
});

describe('fault suite: failover from a failing canary', () => {
  it('serves a 95/5 split with a failing canary with no client error once its circuit opens', async () => {
    const canary = new ScriptedBackend({ alphaMs: 2, betaMs: 0, slotsPerInstance: 8 });
    canary.always = () => {
      throw new EndpointFault('model', 'the canary crashes', 500);
    };
    const stable = new ScriptedBackend({ alphaMs: 2, betaMs: 0, slotsPerInstance: 16 });
    const rig = await startRig({
      models: [
        {
          id: 'r1',
          kind: 'chat',
          policy: 'admit',
          format: 'tgi',
          targets: [
            { id: 'stable', endpoint: 'stable-ep', weight: 95 },
            { id: 'canary', endpoint: 'canary-ep', weight: 5 },
          ],
          breaker: { failureThreshold: 3, cooldownMs: 60_000 },
        },
      ],
      backends: { 'stable-ep': stable, 'canary-ep': canary },
      random: seeded(9),
    });
    try {
      const outcomes: Array<{ status: number; openBefore: boolean }> = [];
      const opened = () => rig.logs.some((l) => l.message === 'circuit open');
      for (let round = 0; round < 25; round++) {
        const openBefore = opened();
        const answers = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            rig.post('/v1/chat/completions', chat('r1', `r${round}q${i}`)),
          ),
        );
        for (const a of answers) outcomes.push({ status: a.status, openBefore });
      }
      expect(opened()).toBe(true);
      const errors = outcomes.filter((o) => o.status !== 200);
      // Only canary failures before its circuit opened reach clients: fewer than the threshold,
      // since the call that opens it (and any in flight then) fails over to stable.
      expect(errors.length).toBeLessThan(3);
      expect(errors.every((e) => e.status === 502 && !e.openBefore)).toBe(true);
      expect(outcomes.filter((o) => o.openBefore).every((o) => o.status === 200)).toBe(true);
      const metrics = await rig.metrics.render();
      const failovers = /sluice_failovers_total\{model="r1",from="canary",to="stable"\} (\d+)/.exec(
        metrics,
      );
      expect(Number(failovers?.[1])).toBeGreaterThanOrEqual(1);
      expect(metrics).toContain('sluice_breaker_state{model="r1",target="canary"} 2');
      expect(rig.logs.filter((l) => l.message === 'circuit open')).toHaveLength(1);
      // No refused request is logged at error level.
      expect(rig.logs.filter((l) => l.level === 'error').length).toBe(errors.length);
    } finally {
      await rig.close();
    }
  }, 30_000);
});

// Referenced so a change of the per-case deadline shows up in review next to the cases.
void CASE_DEADLINE_MS;

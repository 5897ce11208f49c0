import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvokeOptions, ModelInvoker } from '../../../edge/invoke/invoker.js';
import { TokenBucket } from '../../../edge/limits/token-bucket.js';
import type { GatewayConfigInput } from '../../../shared/config/schema.js';
import { bearer, identityHarness, StubInvoker, type IdentityHarness } from '../auth/harness.js';

let h: IdentityHarness;
beforeAll(async () => {
  h = await identityHarness();
});
afterAll(() => h.close());

const setup = (limits: GatewayConfigInput['limits'], invoker: ModelInvoker = new StubInvoker()) => {
  const clock = { t: 1_700_000_000_000, now: () => clock.t };
  const { app } = h.app({ config: { limits }, clock, invoker });
  const call = async (token: string, path = '/v1/models') =>
    app.request(path, { headers: bearer(token) });
  return { app, clock, call };
};

const spec = (ratePerSecond: number, burst: number, maxConcurrent = 100) => ({
  ratePerSecond,
  burst,
  maxConcurrent,
});

describe('per-principal limits', () => {
  it('answers a burst over the rate with 429 and a correct Retry-After; others are unaffected', async () => {
    const { clock, call } = setup({ principal: spec(1, 3) });
    const alice = await h.token({ sub: 'alice', scopes: ['inference/invoke'] });
    const bob = await h.token({ sub: 'bob', scopes: ['inference/invoke'] });
    for (let i = 0; i < 3; i++) expect((await call(alice)).status).toBe(200);
    const refused = await call(alice);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('retry-after-ms')).toBe('1000');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(await refused.json()).toMatchObject({
      error: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
    });
    expect((await call(bob)).status).toBe(200);
    clock.t += 999;
    expect((await call(alice)).status).toBe(429);
    clock.t += 1;
    expect((await call(alice)).status).toBe(200);
  });

  it('rounds Retry-After up to the wait for the next token', async () => {
    const { clock, call } = setup({ principal: spec(0.4, 1) });
    const t = await h.token('consumer');
    expect((await call(t)).status).toBe(200);
    const r = await call(t);
    expect(r.headers.get('retry-after')).toBe('3');
    expect(r.headers.get('retry-after-ms')).toBe('2500');
    clock.t += 1000;
    expect((await call(t)).headers.get('retry-after-ms')).toBe('1500');
  });

  it('reports the remaining budget on successful responses', async () => {
    const { call } = setup({ principal: spec(2, 5) });
    const res = await call(await h.token('consumer'));
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    expect(res.headers.get('x-ratelimit-reset-requests')).toBe('0.5s');
  });

  it('applies a role override over the default, and a client override over both', async () => {
    const count = async (call: (t: string) => Promise<Response>, t: string) => {
      let n = 0;
      while ((await call(t)).status === 200) n++;
      return n;
    };
    const consumer = await h.token({ sub: 'c', scopes: ['inference/invoke'] });
    const byRole = setup({ principal: spec(1, 1), byRole: { consumer: spec(1, 2) } });
    expect(await count(byRole.call, consumer)).toBe(2);
    const byClient = setup({
      principal: spec(1, 1),
      byRole: { consumer: spec(1, 2) },
      byClient: { 'client-abc': spec(1, 4) },
    });
    expect(await count(byClient.call, consumer)).toBe(4);
  });

  it('limits a tenant across its principals', async () => {
    const { call } = setup({ principal: spec(10, 10), tenant: spec(1, 2) });
    const a = await h.token({ sub: 'a', scopes: ['inference/invoke'], tenant: 'acme' });
    const b = await h.token({ sub: 'b', scopes: ['inference/invoke'], tenant: 'acme' });
    const c = await h.token({ sub: 'c', scopes: ['inference/invoke'], tenant: 'other' });
    expect((await call(a)).status).toBe(200);
    expect((await call(b)).status).toBe(200);
    const refused = await call(b);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toMatch(/tenant/);
    expect((await call(c)).status).toBe(200);
  });
});

describe('concurrency limits', () => {
  it('holds a slot until a stream ends, then frees it', async () => {
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const invoker = new (class extends StubInvoker {
      override async *invokeStream(_o: InvokeOptions): AsyncIterable<unknown> {
        yield { token: { id: 1, text: 'a', special: false } };
        await gate;
        yield* super.invokeStream();
      }
    })();
    const { app, call } = setup(
      { principal: { ratePerSecond: 100, burst: 100, maxConcurrent: 1 } },
      invoker,
    );
    const token = await h.token('consumer');
    const stream = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat-model',
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    expect(stream.status).toBe(200);
    const busy = await call(token);
    expect(busy.status).toBe(429);
    expect(await busy.json()).toMatchObject({ error: { code: 'concurrency_limit_exceeded' } });
    expect(busy.headers.get('retry-after')).toBe('1');
    finish();
    expect(await stream.text()).toMatch(/\[DONE\]/);
    expect((await call(token)).status).toBe(200);
  });

  it('frees the slot when the client cancels a stream', async () => {
    const invoker = new (class extends StubInvoker {
      override async *invokeStream(): AsyncIterable<unknown> {
        yield { token: { id: 1, text: 'a', special: false } };
        await new Promise(() => undefined);
      }
    })();
    const { app, call } = setup(
      { principal: { ratePerSecond: 100, burst: 100, maxConcurrent: 1 } },
      invoker,
    );
    const token = await h.token('consumer');
    const stream = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat-model',
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    expect((await call(token)).status).toBe(429);
    const reader = stream.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect((await call(token)).status).toBe(200);
  });
});

describe('TokenBucket', () => {
  it('refills at its rate up to its burst and ignores a clock that steps back', () => {
    const b = new TokenBucket(2, 4, 0);
    for (let i = 0; i < 4; i++) b.take(0);
    expect(b.waitSeconds(0)).toBe(0.5);
    expect(b.available(250)).toBe(0.5);
    expect(b.available(100)).toBe(0.5);
    expect(b.available(10_000)).toBe(4);
    expect(b.secondsToFull(10_000)).toBe(0);
  });
});

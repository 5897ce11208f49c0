import { describe, expect, it } from 'vitest';
import { Admission } from '../../../edge/coalesce/admission.js';
import { ClientClosedError } from '../../../shared/errors.js';
import { GatewayTimeoutError, RateLimitError } from '../../../shared/errors.js';
import { flush, manualScheduler } from './manual-scheduler.js';

const live = () => new AbortController().signal;

describe('Admission', () => {
  it('admits up to the budget at once and queues the rest in FIFO order', async () => {
    const time = manualScheduler();
    const admission = new Admission({ maxConcurrency: 2, scheduler: time.scheduler });
    const r1 = await admission.acquire({ signal: live() });
    await admission.acquire({ signal: live() });
    const order: string[] = [];
    void admission.acquire({ signal: live() }).then(() => order.push('third'));
    void admission.acquire({ signal: live() }).then(() => order.push('fourth'));
    await flush();
    expect(order).toEqual([]);
    expect(admission.queued).toBe(2);
    r1();
    r1(); // a second release gives back nothing more
    await flush();
    expect(order).toEqual(['third']);
    expect(admission.inflight).toBe(2);
  });

  it('admits interactive requests before batch ones', async () => {
    const admission = new Admission({ maxConcurrency: 1, scheduler: manualScheduler().scheduler });
    const release = await admission.acquire({ signal: live() });
    const order: string[] = [];
    void admission
      .acquire({ signal: live(), priority: 'batch' })
      .then((r) => (order.push('batch'), r()));
    void admission
      .acquire({ signal: live(), priority: 'interactive' })
      .then((r) => (order.push('interactive'), r()));
    release();
    await flush(10);
    expect(order).toEqual(['interactive', 'batch']);
  });

  it('refuses with 429 and a Retry-After from the drain rate when the queue is full', async () => {
    const time = manualScheduler();
    const admission = new Admission({ maxConcurrency: 1, maxQueue: 2, scheduler: time.scheduler });
    // One completion every 500 ms: two requests per second drain.
    for (let i = 0; i < 4; i++) {
      const r = await admission.acquire({ signal: live() });
      time.advance(500);
      r();
    }
    await admission.acquire({ signal: live() });
    void admission.acquire({ signal: live() });
    void admission.acquire({ signal: live() });
    const error = await admission.acquire({ signal: live() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).code).toBe('queue_full');
    // Three ahead at two per second: two seconds.
    expect((error as RateLimitError).headers()['retry-after']).toBe('2');
  });

  it('fails a request whose deadline passes in the queue with 504 queue_timeout', async () => {
    const time = manualScheduler();
    const rejected: string[] = [];
    const admission = new Admission({
      maxConcurrency: 1,
      queueTimeoutMs: 100,
      scheduler: time.scheduler,
      hooks: { rejected: (r) => rejected.push(r) },
    });
    await admission.acquire({ signal: live() });
    const waiting = admission.acquire({ signal: live() }).catch((e: unknown) => e);
    const shorter = admission.acquire({ signal: live(), timeoutMs: 20 }).catch((e: unknown) => e);
    time.advance(20);
    expect(await shorter).toBeInstanceOf(GatewayTimeoutError);
    time.advance(80);
    const error = await waiting;
    expect(error).toBeInstanceOf(GatewayTimeoutError);
    expect((error as GatewayTimeoutError).code).toBe('queue_timeout');
    expect(admission.queued).toBe(0);
    expect(rejected).toEqual(['queue_timeout', 'queue_timeout']);
  });

  it('removes a request whose client aborts while queued', async () => {
    const time = manualScheduler();
    const admission = new Admission({ maxConcurrency: 1, scheduler: time.scheduler });
    const release = await admission.acquire({ signal: live() });
    const gone = new AbortController();
    const waiting = admission.acquire({ signal: gone.signal }).catch((e: unknown) => e);
    gone.abort();
    expect(await waiting).toBeInstanceOf(ClientClosedError);
    expect(admission.queued).toBe(0);
    expect(time.pendingTimers()).toBe(0);
    release();
    expect(admission.inflight).toBe(0);
  });

  it('gives the slot back when the work fails', async () => {
    const admission = new Admission({ maxConcurrency: 1, scheduler: manualScheduler().scheduler });
    await expect(
      admission.run({ signal: live() }, () => Promise.reject(new Error('x'))),
    ).rejects.toThrow('x');
    expect(admission.inflight).toBe(0);
  });
});

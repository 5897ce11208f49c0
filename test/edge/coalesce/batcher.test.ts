import { describe, expect, it } from 'vitest';
import { Batcher, type BatchFn } from '../../../edge/coalesce/batcher.js';
import { UpstreamError } from '../../../shared/errors.js';
import { ClientClosedError } from '../../../shared/errors.js';
import { flush, manualScheduler } from './manual-scheduler.js';

/** A batch function the test answers by hand; it records every batch it saw. */
const deferredBatches = () => {
  const calls: Array<{
    items: readonly string[];
    signal: AbortSignal;
    answer: (r: ReadonlyArray<string | Error>) => void;
    fail: (e: unknown) => void;
  }> = [];
  const fn: BatchFn<string, string> = (items, _key, signal) =>
    new Promise((answer, fail) => calls.push({ items, signal, answer, fail }));
  return { calls, fn };
};

const setup = (opts: { maxBatchSize?: number; maxDelayMs?: number; maxInflight?: number } = {}) => {
  const time = manualScheduler();
  const upstream = deferredBatches();
  const reasons: string[] = [];
  const batcher = new Batcher<string, string>({
    batchFn: upstream.fn,
    maxBatchSize: opts.maxBatchSize ?? 4,
    maxDelayMs: opts.maxDelayMs ?? 10,
    maxInflightBatches: opts.maxInflight ?? 1,
    scheduler: time.scheduler,
    hooks: { batch: (e) => reasons.push(`${e.reason}:${e.size}`) },
  });
  return { time, upstream, batcher, reasons };
};

const settled = <T>(p: Promise<T>) => {
  const state: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then(
    (value) => Object.assign(state, { value, done: true }),
    (error: unknown) => Object.assign(state, { error, done: true }),
  );
  return state;
};

describe('Batcher', () => {
  it('dispatches at once when a slot is free, joining items that arrived together', async () => {
    const { time, upstream, batcher, reasons } = setup();
    const a = batcher.load('k', 'a');
    const b = batcher.load('k', 'b');
    time.tick();
    await flush();
    expect(upstream.calls.map((c) => c.items)).toEqual([['a', 'b']]);
    expect(reasons).toEqual(['slot:2']);
    upstream.calls[0]!.answer(['A', 'B']);
    await expect(Promise.all([a, b])).resolves.toEqual(['A', 'B']);
  });

  it('holds a batch while slots are busy, then sends it when a slot frees', async () => {
    const { time, upstream, batcher, reasons } = setup({ maxInflight: 1 });
    const first = batcher.load('k', 'a');
    time.tick();
    await flush();
    const later = [batcher.load('k', 'b'), batcher.load('k', 'c')];
    time.tick();
    await flush();
    expect(upstream.calls).toHaveLength(1);
    upstream.calls[0]!.answer(['A']);
    await first;
    await flush();
    expect(upstream.calls[1]!.items).toEqual(['b', 'c']);
    upstream.calls[1]!.answer(['B', 'C']);
    await expect(Promise.all(later)).resolves.toEqual(['B', 'C']);
    expect(reasons).toEqual(['slot:1', 'slot:2']);
  });

  it('sends a full batch at once and starts a new one', async () => {
    const { upstream, batcher, reasons } = setup({ maxBatchSize: 2, maxInflight: 0 });
    void batcher.load('k', 'a');
    void batcher.load('k', 'b');
    void batcher.load('k', 'c');
    await flush();
    expect(upstream.calls.map((c) => c.items)).toEqual([['a', 'b']]);
    expect(reasons).toEqual(['full:2']);
  });

  it('sends a waiting batch when its timer fires, counted from its first item', async () => {
    const { time, upstream, batcher, reasons } = setup({ maxInflight: 0, maxDelayMs: 10 });
    void batcher.load('k', 'a');
    time.advance(6);
    void batcher.load('k', 'b');
    time.advance(3);
    await flush();
    expect(upstream.calls).toHaveLength(0);
    time.advance(1);
    await flush();
    expect(upstream.calls.map((c) => c.items)).toEqual([['a', 'b']]);
    expect(reasons).toEqual(['timer:2']);
  });

  it('keeps batches of different keys apart', async () => {
    const { time, upstream, batcher } = setup({ maxInflight: 4 });
    void batcher.load('x', 'a');
    void batcher.load('y', 'b');
    time.tick();
    await flush();
    expect(upstream.calls.map((c) => c.items)).toEqual([['a'], ['b']]);
  });

  it('fails every member with 502 when the answer count differs', async () => {
    const { time, upstream, batcher } = setup();
    const all = [batcher.load('k', 'a'), batcher.load('k', 'b')].map(settled);
    time.tick();
    await flush();
    upstream.calls[0]!.answer(['A']);
    await flush();
    for (const s of all) {
      expect(s.error).toBeInstanceOf(UpstreamError);
      expect((s.error as UpstreamError).status).toBe(502);
      expect((s.error as UpstreamError).code).toBe('batch_size_mismatch');
    }
  });

  it('rejects only the caller whose result is an Error', async () => {
    const { time, upstream, batcher } = setup();
    const a = settled(batcher.load('k', 'a'));
    const b = settled(batcher.load('k', 'b'));
    time.tick();
    await flush();
    upstream.calls[0]!.answer([new Error('bad input'), 'B']);
    await flush();
    expect((a.error as Error).message).toBe('bad input');
    expect(b.value).toBe('B');
  });

  it('rejects every waiter when the dispatch fails, so none hangs', async () => {
    const { time, upstream, batcher } = setup();
    const all = [batcher.load('k', 'a'), batcher.load('k', 'b')].map(settled);
    time.tick();
    await flush();
    upstream.calls[0]!.fail(new Error('boom'));
    await flush();
    expect(all.map((s) => (s.error as Error).message)).toEqual(['boom', 'boom']);
    expect(batcher.inflight).toBe(0);
  });

  it('removes an item aborted before dispatch and drops an empty batch', async () => {
    const { time, upstream, batcher } = setup({ maxInflight: 0 });
    const gone = new AbortController();
    const a = settled(batcher.load('k', 'a', gone.signal));
    gone.abort();
    await flush();
    expect(a.error).toBeInstanceOf(ClientClosedError);
    expect(time.pendingTimers()).toBe(0);
    void batcher.load('k', 'b');
    time.advance(10);
    await flush();
    expect(upstream.calls.map((c) => c.items)).toEqual([['b']]);
  });

  it('drops only the aborted caller after dispatch and aborts upstream when all left', async () => {
    const { time, upstream, batcher } = setup();
    const ca = new AbortController();
    const cb = new AbortController();
    const a = settled(batcher.load('k', 'a', ca.signal));
    const b = settled(batcher.load('k', 'b', cb.signal));
    time.tick();
    await flush();
    ca.abort();
    await flush();
    expect(a.error).toBeInstanceOf(ClientClosedError);
    expect(upstream.calls[0]!.signal.aborted).toBe(false);
    upstream.calls[0]!.answer(['A', 'B']);
    await flush();
    expect(b.value).toBe('B');
  });

  it('aborts the upstream call once every member of a batch has gone', async () => {
    const { time, upstream, batcher } = setup();
    const ca = new AbortController();
    const cb = new AbortController();
    void batcher.load('k', 'a', ca.signal).catch(() => {});
    void batcher.load('k', 'b', cb.signal).catch(() => {});
    time.tick();
    await flush();
    ca.abort();
    expect(upstream.calls[0]!.signal.aborted).toBe(false);
    cb.abort();
    expect(upstream.calls[0]!.signal.aborted).toBe(true);
  });

  describe('at the hard cap of batches in flight', () => {
    const capped = (maxQueuedItems = 100) => {
      const time = manualScheduler();
      const upstream = deferredBatches();
      const reasons: string[] = [];
      const batcher = new Batcher<string, string>({
        batchFn: upstream.fn,
        maxBatchSize: 4,
        maxDelayMs: 10,
        maxInflightBatches: 1,
        maxConcurrentBatches: 1,
        maxQueuedItems,
        label: "Model 'e'",
        scheduler: time.scheduler,
        hooks: { batch: (e) => reasons.push(`${e.reason}:${e.size}`) },
      });
      return { time, upstream, batcher, reasons };
    };

    it('keeps a batch whose timer fired open and filling until a slot frees', async () => {
      const { time, upstream, batcher, reasons } = capped();
      const first = batcher.load('k', 'a');
      time.tick();
      await flush();
      const waiting = [batcher.load('k', 'b')];
      time.advance(10);
      await flush();
      // The timer fired, but nothing more may go upstream: the batch stays open and fills.
      waiting.push(batcher.load('k', 'c'), batcher.load('k', 'd'));
      expect(upstream.calls).toHaveLength(1);
      upstream.calls[0]!.answer(['A']);
      await first;
      await flush();
      expect(upstream.calls[1]!.items).toEqual(['b', 'c', 'd']);
      upstream.calls[1]!.answer(['B', 'C', 'D']);
      await expect(Promise.all(waiting)).resolves.toEqual(['B', 'C', 'D']);
      expect(reasons).toEqual(['slot:1', 'timer:3']);
    });

    it('holds full batches in order and sends them as slots free', async () => {
      const { time, upstream, batcher } = capped();
      const all = 'abcdefghij'.split('').map((x) => batcher.load('k', x));
      time.tick();
      await flush();
      expect(upstream.calls.map((c) => c.items)).toEqual([['a', 'b', 'c', 'd']]);
      upstream.calls[0]!.answer(['A', 'B', 'C', 'D']);
      await flush();
      expect(upstream.calls[1]!.items).toEqual(['e', 'f', 'g', 'h']);
      upstream.calls[1]!.answer(['E', 'F', 'G', 'H']);
      await flush();
      time.advance(10);
      await flush();
      expect(upstream.calls[2]!.items).toEqual(['i', 'j']);
      upstream.calls[2]!.answer(['I', 'J']);
      await expect(Promise.all(all)).resolves.toEqual('ABCDEFGHIJ'.split(''));
    });

    it('refuses items past maxQueuedItems with 429 queue_full and a Retry-After', async () => {
      const { time, upstream, batcher } = capped(3);
      const inFlight = batcher.load('k', 'a');
      time.tick();
      await flush();
      const queued = [batcher.load('k', 'b'), batcher.load('k', 'c'), batcher.load('k', 'd')];
      const refused = settled(batcher.load('k', 'e'));
      await flush();
      expect(refused.error).toMatchObject({ status: 429, code: 'queue_full' });
      expect(
        Number((refused.error as UpstreamError).headers()['retry-after']),
      ).toBeGreaterThanOrEqual(1);
      upstream.calls[0]!.answer(['A']);
      await inFlight;
      await flush();
      upstream.calls[1]!.answer(['B', 'C', 'D']);
      await expect(Promise.all(queued)).resolves.toEqual(['B', 'C', 'D']);
      // The queue drained: room again.
      const again = batcher.load('k', 'f');
      time.tick();
      await flush();
      upstream.calls[2]!.answer(['F']);
      await expect(again).resolves.toBe('F');
    });

    it('drops an item that aborts while its batch is held, and frees its queue place', async () => {
      const { time, upstream, batcher } = capped(2);
      const inFlight = batcher.load('k', 'a');
      time.tick();
      await flush();
      const leaving = new AbortController();
      const gone = settled(batcher.load('k', 'b', leaving.signal));
      const stays = batcher.load('k', 'c');
      leaving.abort();
      await flush();
      expect(gone.error).toBeInstanceOf(ClientClosedError);
      const joins = batcher.load('k', 'd');
      upstream.calls[0]!.answer(['A']);
      await inFlight;
      await flush();
      expect(upstream.calls[1]!.items).toEqual(['c', 'd']);
      upstream.calls[1]!.answer(['C', 'D']);
      await expect(Promise.all([stays, joins])).resolves.toEqual(['C', 'D']);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { Dedupe } from '../../../edge/coalesce/dedupe.js';
import { ClientClosedError } from '../../../shared/errors.js';
import { flush } from './manual-scheduler.js';

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
};

describe('Dedupe', () => {
  it('shares one call between identical keys in flight and forgets it once settled', async () => {
    const dedupe = new Dedupe<string>();
    const d = deferred<string>();
    let calls = 0;
    const call = () => (calls++, d.promise);
    const a = dedupe.run('k', new AbortController().signal, call);
    const b = dedupe.run('k', new AbortController().signal, call);
    await flush();
    expect(calls).toBe(1);
    d.resolve('v');
    await expect(Promise.all([a, b])).resolves.toEqual(['v', 'v']);
    expect(dedupe.size).toBe(0);
    await dedupe.run('k', new AbortController().signal, () => Promise.resolve('w'));
  });

  it('does not share between different keys', async () => {
    const dedupe = new Dedupe<string>();
    const a = dedupe.run('tenant-a|x', new AbortController().signal, async () => 'a');
    const b = dedupe.run('tenant-b|x', new AbortController().signal, async () => 'b');
    await expect(Promise.all([a, b])).resolves.toEqual(['a', 'b']);
  });

  it('keeps the shared call alive when one sharer aborts and cancels it when all have', async () => {
    const dedupe = new Dedupe<string>();
    const d = deferred<string>();
    let upstream: AbortSignal | undefined;
    const call = (s: AbortSignal) => ((upstream = s), d.promise);
    const ca = new AbortController();
    const cb = new AbortController();
    const a = dedupe.run('k', ca.signal, call).catch((e: unknown) => e);
    const b = dedupe.run('k', cb.signal, call).catch((e: unknown) => e);
    await flush();
    ca.abort();
    expect(await a).toBeInstanceOf(ClientClosedError);
    expect(upstream!.aborted).toBe(false);
    cb.abort();
    expect(await b).toBeInstanceOf(ClientClosedError);
    expect(upstream!.aborted).toBe(true);
    expect(dedupe.size).toBe(0);
  });

  it('passes a failure to every sharer', async () => {
    const dedupe = new Dedupe<string>();
    const call = () => Promise.reject(new Error('down'));
    const all = await Promise.allSettled([
      dedupe.run('k', new AbortController().signal, call),
      dedupe.run('k', new AbortController().signal, call),
    ]);
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(dedupe.size).toBe(0);
  });
});

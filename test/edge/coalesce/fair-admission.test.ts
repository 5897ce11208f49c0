import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Admission, type Release } from '../../../edge/coalesce/admission.js';
import { flush, manualScheduler } from './manual-scheduler.js';

const live = () => new AbortController().signal;

/** Grants in the order they happen, by tenant. */
const recorder = (admission: Admission) => {
  const granted: string[] = [];
  const held: Release[] = [];
  const ask = (tenant: string, priority: 'interactive' | 'batch' = 'interactive') =>
    void admission
      .acquire({ signal: live(), tenant, priority, timeoutMs: 1e9 })
      .then((r) => (granted.push(tenant), held.push(r)));
  /** Ends the oldest request in flight (one slot turnover). */
  const turnover = async () => {
    held.shift()!();
    await flush(10);
  };
  return { granted, held, ask, turnover };
};

describe('fair admission across tenants', () => {
  it('serves a quiet tenant at the next slot turnover while a noisy one saturates the target', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }), // slots
        fc.integer({ min: 1, max: 60 }), // the noisy tenant's queued requests
        fc.integer({ min: 0, max: 20 }), // turnovers before the quiet one arrives
        fc.integer({ min: 1, max: 4 }), // quiet requests arriving together
        async (slots, noisy, before, quiet) => {
          const admission = new Admission({
            maxConcurrency: slots,
            maxQueue: 10_000,
            scheduler: manualScheduler().scheduler,
          });
          const r = recorder(admission);
          for (let i = 0; i < slots + noisy; i++) r.ask('noisy');
          await flush(10);
          for (let i = 0; i < Math.min(before, noisy); i++) await r.turnover();
          const quietAt = r.granted.length;
          for (let i = 0; i < quiet; i++) r.ask('quiet');
          await flush(10);
          // The first quiet request goes at the next turnover; after that the two tenants take
          // turns: never does the quiet tenant wait behind the noisy tenant's queue.
          for (let turn = 1; turn <= 2 * quiet; turn++) {
            if (r.held.length === 0) break;
            await r.turnover();
            const quietGranted = r.granted.slice(quietAt).filter((t) => t === 'quiet').length;
            expect(quietGranted).toBeGreaterThanOrEqual(Math.min(Math.ceil(turn / 2), quiet));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('alternates between waiting tenants, and keeps interactive before batch inside each', async () => {
    const admission = new Admission({ maxConcurrency: 1, scheduler: manualScheduler().scheduler });
    const r = recorder(admission);
    r.ask('a');
    await flush();
    r.ask('a', 'batch');
    r.ask('a');
    r.ask('a');
    r.ask('b');
    r.ask('b');
    for (let i = 0; i < 5; i++) await r.turnover();
    // `a` already holds a slot, so `b` goes first; then turns alternate, and `a`'s batch
    // request comes after its interactive ones.
    expect(r.granted).toEqual(['a', 'b', 'a', 'b', 'a', 'a']);
  });

  it('serves by weight when weights differ', async () => {
    const admission = new Admission({
      maxConcurrency: 1,
      tenantWeights: { gold: 3 },
      scheduler: manualScheduler().scheduler,
    });
    const r = recorder(admission);
    r.ask('gold');
    await flush();
    for (let i = 0; i < 12; i++) {
      r.ask('gold');
      r.ask('plain');
    }
    for (let i = 0; i < 8; i++) await r.turnover();
    const served = r.granted.slice(1, 9);
    expect(served.filter((t) => t === 'gold')).toHaveLength(6);
    expect(served.filter((t) => t === 'plain')).toHaveLength(2);
  });

  it('caps what one tenant holds, so others find a slot free even while it waits', async () => {
    const admission = new Admission({
      maxConcurrency: 4,
      maxPerTenant: 3,
      scheduler: manualScheduler().scheduler,
    });
    const r = recorder(admission);
    for (let i = 0; i < 10; i++) r.ask('noisy');
    await flush(10);
    expect(r.granted).toEqual(['noisy', 'noisy', 'noisy']);
    expect(admission.inflight).toBe(3);
    r.ask('quiet');
    await flush(10);
    expect(r.granted.at(-1)).toBe('quiet');
    expect(admission.inflight).toBe(4);
  });

  it('forgets tenants with nothing held or waiting', async () => {
    const admission = new Admission({ maxConcurrency: 2, scheduler: manualScheduler().scheduler });
    for (let i = 0; i < 1000; i++) {
      const release = await admission.acquire({ signal: live(), tenant: `t${i}` });
      release();
    }
    expect((admission as unknown as { tenants: Map<string, unknown> }).tenants.size).toBe(0);
  });
});

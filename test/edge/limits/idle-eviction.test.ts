import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../edge/auth/principal.js';
import { RequestLimiter } from '../../../edge/limits/limiter.js';
import { limitsSchema } from '../../../shared/config/schema.js';

const caller = (subject: string, tenant = subject): Principal => ({
  subject,
  clientId: undefined,
  tenant,
  scopes: ['inference/invoke'],
  groups: [],
  roles: ['consumer'],
});

const setup = () => {
  const clock = { t: 1_700_000_000_000, now: () => clock.t };
  const config = limitsSchema.parse({
    principal: { ratePerSecond: 1, burst: 2, maxConcurrent: 4 },
    tenant: { ratePerSecond: 100, burst: 100, maxConcurrent: 100 },
  });
  const limiter = new RequestLimiter(config, clock, { idleMs: 60_000, sweepEveryMs: 10_000 });
  return { clock, limiter };
};

describe('idle limiter entries', () => {
  it('forgets callers idle past idleMs as admissions go on, keeping recent ones', () => {
    const { clock, limiter } = setup();
    for (let i = 0; i < 500; i++) limiter.admit(caller(`old-${i}`)).release();
    expect(limiter.trackedKeys).toBe(1000);
    clock.t += 61_000;
    limiter.admit(caller('new')).release();
    // One principal and one tenant entry: everything else was idle, full and free.
    expect(limiter.trackedKeys).toBe(2);
  });

  it('keeps a caller with a request in flight or a bucket still refilling', () => {
    const { clock, limiter } = setup();
    const held = limiter.admit(caller('busy', 'shared'));
    limiter.admit(caller('drained', 'shared')).release();
    limiter.admit(caller('drained', 'shared')).release();
    clock.t += 60_000;
    // `drained` used its burst of 2 at 1 token/s: full again after 2 s, so idle and forgotten.
    expect(limiter.evictIdle()).toBe(1);
    expect(limiter.inflightOf('principal', 'busy')).toBe(1);
    expect(limiter.trackedKeys).toBe(2);
    held.release();
    expect(limiter.evictIdle()).toBe(2);
    expect(limiter.trackedKeys).toBe(0);
  });

  it('keeps a slow bucket that has not refilled, so forgetting never mints tokens', () => {
    const clock = { t: 1_700_000_000_000, now: () => clock.t };
    const config = limitsSchema.parse({
      principal: { ratePerSecond: 0.01, burst: 2, maxConcurrent: 4 },
    });
    const limiter = new RequestLimiter(config, clock, { idleMs: 60_000 });
    limiter.admit(caller('eager')).release();
    limiter.admit(caller('eager')).release();
    clock.t += 61_000;
    // Idle, but 0.61 of 2 tokens back: the principal entry stays, the (full) tenant one goes.
    expect(limiter.evictIdle()).toBe(1);
    expect(() => limiter.admit(caller('eager'))).toThrow(/Rate limit/);
  });
});

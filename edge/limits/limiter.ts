import type { LimitsConfig, LimitSpec } from '../../shared/config/schema.js';
import { RateLimitError } from '../../shared/errors.js';
import type { Principal } from '../auth/principal.js';
import type { Clock } from '../types.js';
import { TokenBucket } from './token-bucket.js';

/** An admitted request: headers to send, and the slot to give back when it ends. */
export interface Admission {
  headers: Record<string, string>;
  /** Idempotent. */
  release(): void;
}

export interface RequestLimiterOptions {
  /**
   * A principal or tenant not seen for this long, with no request in flight and a full bucket,
   * is forgotten (forgetting it changes no answer: a new bucket starts full). @default 60000
   */
  idleMs?: number;
  /** How often `admit` sweeps idle entries; sweeping needs no timer. @default 10000 */
  sweepEveryMs?: number;
}

interface Entry {
  bucket: TokenBucket;
  seenMs: number;
}

interface Subject {
  key: string;
  spec: LimitSpec;
  kind: 'principal' | 'tenant';
}

/**
 * Per-principal and per-tenant limits: a token bucket for the request rate and a cap on requests
 * in flight, for each. State lives in this process only: behind N gateway processes a caller may
 * get up to N times these rates, which is why the fleet-wide bound is the WAF rate-based rule.
 * Memory is bounded by `maxTrackedKeys`, the least recently seen buckets forgotten first, and
 * idle entries are forgotten as `admit` goes (see {@link RequestLimiterOptions}), so a
 * long-running process holds state only for recent callers.
 */
export class RequestLimiter {
  /** Least recently seen first. */
  private readonly buckets = new Map<string, Entry>();
  private readonly inflight = new Map<string, number>();
  private readonly idleMs: number;
  private readonly sweepEveryMs: number;
  private sweptMs: number;

  constructor(
    private readonly config: LimitsConfig,
    private readonly clock: Clock,
    options: RequestLimiterOptions = {},
  ) {
    this.idleMs = options.idleMs ?? 60_000;
    this.sweepEveryMs = options.sweepEveryMs ?? 10_000;
    this.sweptMs = clock.now();
  }

  /**
   * Admits one request of `principal`, or refuses it.
   * @throws RateLimitError 429 with `Retry-After` and `x-ratelimit-*` headers
   */
  admit(principal: Principal): Admission {
    const now = this.clock.now();
    if (now - this.sweptMs >= this.sweepEveryMs) {
      this.sweptMs = now;
      this.evictIdle(now);
    }
    const subjects: Subject[] = [
      { key: `p:${principal.subject}`, spec: this.principalSpec(principal), kind: 'principal' },
      { key: `t:${principal.tenant}`, spec: this.tenantSpec(principal.tenant), kind: 'tenant' },
    ];
    const buckets = subjects.map((s) => this.bucket(s, now));
    const principalBucket = buckets[0]!;

    for (const s of subjects) {
      if ((this.inflight.get(s.key) ?? 0) >= s.spec.maxConcurrent) {
        throw new RateLimitError(
          `Too many concurrent requests for this ${s.kind} (limit ${s.spec.maxConcurrent}).`,
          1,
          {
            code: 'concurrency_limit_exceeded',
            details: { key: s.key },
            extraHeaders: { ...rateHeaders(principalBucket, now), 'retry-after-ms': '1000' },
          },
        );
      }
    }
    // Both buckets must have a token before either is charged, so a refusal costs nothing.
    const waits = buckets.map((b) => b.waitSeconds(now));
    const wait = Math.max(...waits);
    if (wait > 0) {
      const which = subjects[waits.indexOf(wait)]!;
      throw new RateLimitError(
        `Rate limit for this ${which.kind} exceeded (${which.spec.ratePerSecond} requests/s, burst ${which.spec.burst}).`,
        wait,
        {
          details: { key: which.key },
          extraHeaders: {
            ...rateHeaders(buckets[waits.indexOf(wait)]!, now),
            'retry-after-ms': String(Math.ceil(wait * 1000)),
          },
        },
      );
    }
    for (const b of buckets) b.take(now);
    for (const s of subjects) this.inflight.set(s.key, (this.inflight.get(s.key) ?? 0) + 1);
    let released = false;
    return {
      headers: rateHeaders(principalBucket, now),
      release: () => {
        if (released) return;
        released = true;
        for (const s of subjects) {
          const n = (this.inflight.get(s.key) ?? 1) - 1;
          if (n <= 0) this.inflight.delete(s.key);
          else this.inflight.set(s.key, n);
        }
      },
    };
  }

  /**
   * Forgets every entry idle for `idleMs` or longer whose bucket is full and that has no request
   * in flight. Walks from the least recently seen and stops at the first recent entry.
   * @returns how many entries were forgotten
   */
  evictIdle(now: number = this.clock.now()): number {
    let evicted = 0;
    for (const [key, entry] of this.buckets) {
      if (now - entry.seenMs < this.idleMs) break;
      if (this.inflight.has(key) || !entry.bucket.isFull(now)) continue;
      this.buckets.delete(key);
      evicted++;
    }
    return evicted;
  }

  /** Principals and tenants tracked now, for tests and the soak. */
  get trackedKeys(): number {
    return this.buckets.size;
  }

  /** Requests in flight for a principal subject or tenant, for tests and metrics. */
  inflightOf(kind: 'principal' | 'tenant', id: string): number {
    return this.inflight.get(`${kind === 'principal' ? 'p' : 't'}:${id}`) ?? 0;
  }

  private principalSpec(p: Principal): LimitSpec {
    const byClient = p.clientId !== undefined ? this.config.byClient[p.clientId] : undefined;
    if (byClient) return byClient;
    const byRole = p.roles
      .map((r) => this.config.byRole[r])
      .filter((s): s is LimitSpec => s !== undefined)
      .sort((a, b) => b.ratePerSecond - a.ratePerSecond)[0];
    return byRole ?? this.config.principal;
  }

  private tenantSpec(tenant: string): LimitSpec {
    return this.config.byTenant[tenant] ?? this.config.tenant;
  }

  private bucket(s: Subject, now: number): TokenBucket {
    let entry = this.buckets.get(s.key);
    if (entry) {
      this.buckets.delete(s.key);
      entry.seenMs = now;
    } else {
      entry = { bucket: new TokenBucket(s.spec.ratePerSecond, s.spec.burst, now), seenMs: now };
    }
    this.buckets.set(s.key, entry);
    if (this.buckets.size > this.config.maxTrackedKeys) this.evict(now);
    return entry.bucket;
  }

  /**
   * Forgets one bucket: among the 32 least recently seen, the first that is full (nothing is
   * lost), else the least recently seen of all.
   */
  private evict(now: number): void {
    let scanned = 0;
    for (const [key, { bucket }] of this.buckets) {
      if (bucket.isFull(now)) {
        this.buckets.delete(key);
        return;
      }
      if (++scanned >= 32) break;
    }
    const oldest = this.buckets.keys().next().value;
    if (oldest !== undefined) this.buckets.delete(oldest);
  }
}

/** OpenAI's header names, so clients that read them keep working. */
const rateHeaders = (bucket: TokenBucket, now: number): Record<string, string> => ({
  'x-ratelimit-limit-requests': String(bucket.burst),
  'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(bucket.available(now)))),
  'x-ratelimit-reset-requests': formatSeconds(bucket.secondsToFull(now)),
});

/** `1.5s`, `12s`, `6m0s`: the duration style OpenAI's headers use. */
const formatSeconds = (s: number): string => {
  if (s < 60) return `${Math.round(s * 1000) / 1000}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - m * 60)}s`;
};

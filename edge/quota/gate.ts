import { RateLimitError, ServiceUnavailableError } from '../../shared/errors.js';
import type { QuotasConfig, TokenQuota } from '../../shared/config/schema.js';
import type { Principal } from '../auth/principal.js';
import type { Clock, Logger } from '../types.js';
import { QuotaRefusal, type Counter, type CounterTotals, type QuotaStore } from './store.js';
import { formatResetDuration, windowAt, type QuotaWindow, type WindowKind } from './windows.js';

/** Who a request is charged to. */
export interface QuotaSubject {
  tenant: string;
  /** The principal class inside the tenant: the token's app client. */
  principalClass: string;
}

/** The class of a principal: its app client id, else `none` (tokens without one). */
export const principalClassOf = (p: Principal): string => p.clientId ?? 'none';

/** What a finished request used, as the container reported it. */
export interface ReportedUsage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens?: number;
}

/** Tokens held for one request until it settles. */
export interface QuotaReservation {
  readonly estimate: number;
  /** `x-ratelimit-*-tokens` of the tightest limited window; empty when nothing is limited. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Releases the reservation and charges `usage`; `'keep'` charges the whole estimate (the
   * request ran but its usage is unknown), `'release'` charges nothing (nothing ran). Never
   * throws: a store failure is logged and counted. Call once.
   */
  settle(usage: ReportedUsage | 'keep' | 'release'): Promise<void>;
}

/** A window's numbers in `GET /admin/usage`. */
export interface WindowUsage extends CounterTotals {
  limit: number | null;
  resetsAt: string;
}

export interface QuotaGateOptions {
  store: QuotaStore;
  config: QuotasConfig;
  clock: Clock;
  logger: Logger;
  /** Told of every store failure (a metric). @default nothing */
  onStoreError?: (operation: 'reserve' | 'settle' | 'query') => void;
}

const KINDS: readonly WindowKind[] = ['day', 'month'];

/**
 * Token quotas per tenant and per principal class, per UTC day and month, held in a store every
 * gateway process shares. Before a generation, {@link reserve} takes an estimate from every
 * counter or refuses (429 `quota_exceeded`); after it, the reservation settles to what the
 * container reported. When the store fails, `config.onStoreError` decides: `closed` refuses with
 * 503 `quota_unavailable`; `open` admits against this process's own running count (so one process
 * still stops a runaway tenant), logs and counts the failure.
 *
 * @example
 * const gate = new QuotaGate({ store: new DynamoQuotaStore({ tableName }), config: config.quotas, clock, logger });
 * const held = await gate.reserve({ tenant: 'team-a', principalClass: 'web' }, 1200);
 * await held.settle({ promptTokens: 180, completionTokens: 412 });
 */
export class QuotaGate {
  /** Tokens this process admitted per counter while the store was failing (`open` only). */
  private readonly fallback = new Map<string, number>();

  constructor(private readonly options: QuotaGateOptions) {}

  async reserve(subject: QuotaSubject, estimate: number): Promise<QuotaReservation> {
    const counters = this.countersFor(subject, this.options.clock.now());
    let used: number[];
    try {
      used = await this.options.store.reserve(counters, estimate);
    } catch (error) {
      if (error instanceof QuotaRefusal) throw this.exceeded(subject, error.counter, estimate);
      used = this.failedStore('reserve', error, counters, estimate, subject);
    }
    return this.reservation(counters, used, estimate);
  }

  /** Each counter of `tenant` (the tenant's own, and those of its classes named in `classes`). */
  async usage(
    tenant: string,
    range: { from: string; to: string },
    classes: readonly string[] = [],
  ): Promise<Record<string, WindowUsage[]>> {
    const keys = [tenantKey(tenant), ...classes.map((c) => classKey(tenant, c))];
    const out: Record<string, WindowUsage[]> = {};
    try {
      for (const key of keys) {
        const rows = await this.options.store.query(key, range.from, range.to);
        out[key] = rows.map((row) => this.describe(key, tenant, row));
      }
    } catch (error) {
      this.options.onStoreError?.('query');
      throw new ServiceUnavailableError('The quota store cannot be read now; retry later.', 5, {
        code: 'quota_unavailable',
        cause: error,
      });
    }
    return out;
  }

  private countersFor(subject: QuotaSubject, now: number): Counter[] {
    const { config } = this.options;
    const tenantQuota = config.byTenant[subject.tenant] ?? config.tenant;
    const classQuota = config.byPrincipalClass[subject.principalClass] ?? config.principalClass;
    const counters: Counter[] = [];
    for (const kind of KINDS) {
      const window = windowAt(kind, now);
      // The tenant's windows are counted even without a limit: /admin/usage reads them.
      counters.push({ key: tenantKey(subject.tenant), window, limit: limitOf(tenantQuota, kind) });
      const classLimit = limitOf(classQuota, kind);
      if (classLimit !== undefined) {
        counters.push({
          key: classKey(subject.tenant, subject.principalClass),
          window,
          limit: classLimit,
        });
      }
    }
    return counters;
  }

  private reservation(counters: Counter[], used: number[], estimate: number): QuotaReservation {
    let tightest: { limit: number; remaining: number; window: QuotaWindow } | undefined;
    counters.forEach((c, i) => {
      if (c.limit === undefined) return;
      const remaining = Math.max(0, c.limit - used[i]!);
      if (!tightest || remaining < tightest.remaining)
        tightest = { limit: c.limit, remaining, window: c.window };
    });
    const headers = tightest
      ? rateLimitHeaders(tightest.limit, tightest.remaining, tightest.window, this.options.clock)
      : {};
    let settled = false;
    return {
      estimate,
      headers,
      settle: async (usage) => {
        if (settled) return;
        settled = true;
        const charged =
          usage === 'keep'
            ? estimate
            : usage === 'release'
              ? 0
              : usage.promptTokens + usage.completionTokens;
        const reported = typeof usage === 'object' ? usage : undefined;
        try {
          await this.options.store.settle(counters, {
            reserved: estimate,
            charged,
            promptTokens: reported?.promptTokens ?? 0,
            completionTokens: reported?.completionTokens ?? 0,
            reasoningTokens: reported?.reasoningTokens ?? 0,
          });
        } catch (error) {
          this.options.onStoreError?.('settle');
          this.options.logger.warn(
            { code: 'quota_store_error', operation: 'settle', cause: errorName(error) },
            'quota settlement failed; the reservation stays charged',
          );
        }
      },
    };
  }

  private exceeded(subject: QuotaSubject, counter: Counter, estimate: number): RateLimitError {
    const { window } = counter;
    const limit = counter.limit!;
    const resetsAt = new Date(window.resetsAt).toISOString();
    const who = counter.key.startsWith('class#')
      ? `client '${subject.principalClass}' of tenant '${subject.tenant}'`
      : `tenant '${subject.tenant}'`;
    const span = window.kind === 'day' ? 'daily' : 'monthly';
    return new RateLimitError(
      `The ${span} token quota of ${who} (${limit} tokens) has no room for this request ` +
        `(about ${estimate} tokens); it resets at ${resetsAt}.`,
      (window.resetsAt - this.options.clock.now()) / 1000,
      {
        code: 'quota_exceeded',
        details: { window: window.id, limit, estimate, resetsAt },
        extraHeaders: rateLimitHeaders(limit, 0, window, this.options.clock),
      },
    );
  }

  /** The store failed during a reservation: refuse (`closed`) or count locally (`open`). */
  private failedStore(
    operation: 'reserve',
    error: unknown,
    counters: Counter[],
    estimate: number,
    subject: QuotaSubject,
  ): number[] {
    this.options.onStoreError?.(operation);
    this.options.logger.warn(
      {
        code: 'quota_store_error',
        operation,
        mode: this.options.config.onStoreError,
        cause: errorName(error),
      },
      'quota store unavailable',
    );
    if (this.options.config.onStoreError === 'closed') {
      throw new ServiceUnavailableError(
        'Token quotas cannot be checked now, so no request is admitted; retry shortly.',
        5,
        { code: 'quota_unavailable', cause: error },
      );
    }
    const keys = counters.map((c) => `${c.key}|${c.window.id}`);
    const after = keys.map((k) => (this.fallback.get(k) ?? 0) + estimate);
    const over = counters.findIndex((c, i) => c.limit !== undefined && after[i]! > c.limit);
    if (over !== -1) throw this.exceeded(subject, counters[over]!, estimate);
    keys.forEach((k, i) => this.fallback.set(k, after[i]!));
    this.dropOldFallback();
    return after;
  }

  /** Forgets local counts of windows that have ended. */
  private dropOldFallback(): void {
    const today = windowAt('day', this.options.clock.now()).id;
    const month = windowAt('month', this.options.clock.now()).id;
    for (const key of this.fallback.keys()) {
      const window = key.slice(key.lastIndexOf('|') + 1);
      if (window !== today && window !== month) this.fallback.delete(key);
    }
  }

  private describe(key: string, tenant: string, row: CounterTotals): WindowUsage {
    const { config } = this.options;
    const kind: WindowKind = row.window.startsWith('day#') ? 'day' : 'month';
    const cls = key.startsWith('class#') ? key.slice(`class#${tenant}#`.length) : undefined;
    const quota =
      cls === undefined
        ? (config.byTenant[tenant] ?? config.tenant)
        : (config.byPrincipalClass[cls] ?? config.principalClass);
    const start = windowStart(row.window);
    return {
      ...row,
      limit: limitOf(quota, kind) ?? null,
      resetsAt: new Date(windowAt(kind, start).resetsAt).toISOString(),
    };
  }
}

export const tenantKey = (tenant: string): string => `tenant#${tenant}`;
export const classKey = (tenant: string, principalClass: string): string =>
  `class#${tenant}#${principalClass}`;

const limitOf = (quota: TokenQuota, kind: WindowKind): number | undefined =>
  kind === 'day' ? quota.daily : quota.monthly;

/** OpenAI's names: the window's limit, what is left of it, and how long until it resets. */
export const rateLimitHeaders = (
  limit: number,
  remaining: number,
  window: QuotaWindow,
  clock: Clock,
): Record<string, string> => ({
  'x-ratelimit-limit-tokens': String(limit),
  'x-ratelimit-remaining-tokens': String(remaining),
  'x-ratelimit-reset-tokens': formatResetDuration(window.resetsAt - clock.now()),
});

/** Epoch ms of a window id's start (`day#2026-12-02`, `month#2026-12`). */
const windowStart = (id: string): number => {
  const [, date] = id.split('#');
  const [y, m, d] = (date ?? '').split('-').map(Number);
  return Date.UTC(y!, (m ?? 1) - 1, d ?? 1);
};

const errorName = (error: unknown): string => (error instanceof Error ? error.name : typeof error);

import { GatewayTimeoutError, RateLimitError } from '../../shared/errors.js';
import { ClientClosedError } from '../../shared/errors.js';
import { realScheduler, type Scheduler } from './scheduler.js';

/** Interactive requests are admitted before batch ones. */
export type Priority = 'interactive' | 'batch';

/** What admission reports, for metrics. All optional. */
export interface AdmissionHooks {
  queueWait?(ms: number): void;
  inflight?(delta: 1 | -1): void;
  rejected?(reason: 'queue_full' | 'queue_timeout' | 'client_closed'): void;
}

export interface AdmissionOptions {
  /** Requests in flight at once (the engine's continuous-batching budget). @default 32 */
  maxConcurrency?: number;
  /** Requests waiting before new ones are refused with 429. @default 256 */
  maxQueue?: number;
  /** Longest a request waits for a slot before it fails with 504. @default 30000 */
  queueTimeoutMs?: number;
  /**
   * Slots one tenant may hold at once; its further requests wait even while slots are free, so a
   * busy tenant cannot take every slot from the others. @default `maxConcurrency` (no cap)
   */
  maxPerTenant?: number;
  /** Share weights by tenant (2 is served twice as often as 1 when both wait). @default 1 each */
  tenantWeights?: Readonly<Record<string, number>>;
  /** Names the target in error messages. @default 'the model' */
  label?: string;
  scheduler?: Scheduler;
  hooks?: AdmissionHooks;
}

export interface AdmitRequest {
  signal: AbortSignal;
  /** Whose request it is: slots are shared fairly between tenants. @default '' */
  tenant?: string;
  /** @default 'interactive' */
  priority?: Priority;
  /** Shorter queue deadline for this request, in ms from now; the configured one caps it. */
  timeoutMs?: number;
}

/** Gives the slot back. Calling it more than once is harmless. */
export type Release = () => void;

interface Ticket {
  enqueuedAt: number;
  grant(release: Release): void;
  fail(error: Error): void;
}

/** One tenant's waiting requests and its place in the fair order. */
interface TenantQueue {
  readonly id: string;
  readonly queues: Record<Priority, Ticket[]>;
  /** Slots it holds now. */
  running: number;
  /**
   * Stride scheduling: the tenant with the lowest pass is served next, and each grant advances
   * its pass by 1 / weight. A tenant that starts waiting joins at the current virtual time, so
   * idling earns no burst later.
   */
  pass: number;
}

/** Completions remembered to estimate how fast the queue drains. */
const DRAIN_WINDOW = 32;

/**
 * Admission control for continuous-batching engines: at most `maxConcurrency` requests in
 * flight, a deadline per waiting request, and fast refusals, so that overload becomes a 429 with
 * an honest `Retry-After` instead of a pile-up at the GPU. Slots are shared fairly between
 * tenants: each tenant waits in its own queue (interactive before batch inside it), a freed slot
 * goes to the waiting tenant that has been served least (weighted), and `maxPerTenant` caps what
 * one tenant holds. A tenant that saturates the target therefore delays another's request by at
 * most one slot turnover, not by its whole queue.
 *
 * @example
 * const release = await admission.acquire({ signal, priority: 'interactive' });
 * try { return await invoke(); } finally { release(); }
 */
export class Admission {
  private readonly tenants = new Map<string, TenantQueue>();
  private readonly maxConcurrency: number;
  private readonly maxPerTenant: number;
  /** The pass of the last grant: where a tenant that starts waiting joins. */
  private virtualTime = 0;
  private waiting = 0;
  private readonly maxQueue: number;
  private readonly queueTimeoutMs: number;
  private readonly scheduler: Scheduler;
  private readonly completions: number[] = [];
  private running = 0;

  constructor(private readonly options: AdmissionOptions = {}) {
    this.maxConcurrency = options.maxConcurrency ?? 32;
    this.maxPerTenant = Math.min(options.maxPerTenant ?? Infinity, this.maxConcurrency);
    this.maxQueue = options.maxQueue ?? 256;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 30_000;
    this.scheduler = options.scheduler ?? realScheduler;
  }

  /** Requests holding a slot now. */
  get inflight(): number {
    return this.running;
  }

  /** Requests waiting now. */
  get queued(): number {
    return this.waiting;
  }

  /**
   * Waits for a slot.
   * @throws RateLimitError (429, `queue_full`) when the queue is full
   * @throws GatewayTimeoutError (504, `queue_timeout`) when the deadline passes in the queue
   * @throws ClientClosedError when `signal` aborts while queued
   */
  acquire(request: AdmitRequest): Promise<Release> {
    const hooks = this.options.hooks;
    if (request.signal.aborted) return Promise.reject(new ClientClosedError());
    const tenant = this.tenantOf(request.tenant ?? '');
    if (
      this.running < this.maxConcurrency &&
      this.queued === 0 &&
      tenant.running < this.maxPerTenant
    ) {
      hooks?.queueWait?.(0);
      this.charge(tenant);
      return Promise.resolve(this.take(tenant));
    }
    if (this.queued >= this.maxQueue) {
      hooks?.rejected?.('queue_full');
      return Promise.reject(
        new RateLimitError(
          `${this.label()} is at capacity; retry later.`,
          this.retryAfterSeconds(),
          { code: 'queue_full' },
        ),
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const queue = tenant.queues[request.priority ?? 'interactive'];
      const timeoutMs = Math.min(request.timeoutMs ?? Infinity, this.queueTimeoutMs);
      const leave = (error: Error, reason: 'queue_timeout' | 'client_closed') => {
        const at = queue.indexOf(ticket);
        if (at < 0) return;
        queue.splice(at, 1);
        this.waiting--;
        this.forgetIfIdle(tenant);
        cleanup();
        hooks?.rejected?.(reason);
        ticket.fail(error);
      };
      const onAbort = () => leave(new ClientClosedError(), 'client_closed');
      const cancelTimer = this.scheduler.after(timeoutMs, () =>
        leave(
          new GatewayTimeoutError(`${this.label()} did not take the request in time.`, {
            code: 'queue_timeout',
          }),
          'queue_timeout',
        ),
      );
      const cleanup = () => {
        cancelTimer();
        request.signal.removeEventListener('abort', onAbort);
      };
      const ticket: Ticket = {
        enqueuedAt: this.scheduler.now(),
        grant: (release) => {
          cleanup();
          resolve(release);
        },
        fail: reject,
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      if (!this.hasWaiting(tenant)) tenant.pass = Math.max(tenant.pass, this.virtualTime);
      queue.push(ticket);
      this.waiting++;
      // Slots may be free while others wait on their own caps: this tenant may go at once.
      this.grantNext();
    });
  }

  /** Runs `fn` holding a slot; the slot is given back when it settles. */
  async run<T>(request: AdmitRequest, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(request);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private take(tenant: TenantQueue): Release {
    this.running++;
    tenant.running++;
    this.options.hooks?.inflight?.(1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      tenant.running--;
      this.options.hooks?.inflight?.(-1);
      this.recordCompletion();
      this.forgetIfIdle(tenant);
      this.grantNext();
    };
  }

  private grantNext(): void {
    while (this.running < this.maxConcurrency) {
      const tenant = this.nextTenant();
      if (!tenant) return;
      const ticket = tenant.queues.interactive.shift() ?? tenant.queues.batch.shift()!;
      this.waiting--;
      this.charge(tenant);
      this.options.hooks?.queueWait?.(this.scheduler.now() - ticket.enqueuedAt);
      ticket.grant(this.take(tenant));
    }
  }

  /** Counts one grant against the tenant's fair share. */
  private charge(tenant: TenantQueue): void {
    tenant.pass = Math.max(tenant.pass, this.virtualTime);
    this.virtualTime = tenant.pass;
    tenant.pass += 1 / this.weightOf(tenant);
  }

  /** The waiting tenant below its cap with the lowest pass (ties: the one that waited first). */
  private nextTenant(): TenantQueue | undefined {
    let best: TenantQueue | undefined;
    for (const t of this.tenants.values()) {
      if (t.running >= this.maxPerTenant || !this.hasWaiting(t)) continue;
      if (!best || t.pass < best.pass) best = t;
    }
    return best;
  }

  private tenantOf(id: string): TenantQueue {
    let t = this.tenants.get(id);
    if (!t) {
      t = { id, queues: { interactive: [], batch: [] }, running: 0, pass: this.virtualTime };
      this.tenants.set(id, t);
    }
    return t;
  }

  private weightOf(t: TenantQueue): number {
    const w = this.options.tenantWeights?.[t.id];
    return w !== undefined && w > 0 ? w : 1;
  }

  private hasWaiting(t: TenantQueue): boolean {
    return t.queues.interactive.length > 0 || t.queues.batch.length > 0;
  }

  /** A tenant with nothing held or waiting is forgotten: state follows active tenants only. */
  private forgetIfIdle(t: TenantQueue): void {
    if (t.running === 0 && !this.hasWaiting(t)) this.tenants.delete(t.id);
  }

  private recordCompletion(): void {
    this.completions.push(this.scheduler.now());
    if (this.completions.length > DRAIN_WINDOW) this.completions.shift();
  }

  /** Time for the queue ahead to drain at the recent completion rate, in whole seconds. */
  private retryAfterSeconds(): number {
    const c = this.completions;
    const span = c.length > 1 ? c[c.length - 1]! - c[0]! : 0;
    if (span <= 0) return 1;
    const perMs = (c.length - 1) / span;
    return Math.min(60, Math.max(1, Math.ceil((this.queued + 1) / perMs / 1000)));
  }

  private label(): string {
    return this.options.label ?? 'The model';
  }
}

import { GatewayError, ServiceUnavailableError } from '../../shared/errors.js';
import type { Clock } from '../types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive upstream failures that open the circuit. @default 5 */
  failureThreshold?: number;
  /** How long an open circuit refuses before it lets one probe through. @default 30000 */
  cooldownMs?: number;
  clock: Clock;
  /** Names the target in the 503 message. */
  label: string;
  /**
   * Called once per change of state: `open` when failures open it, `half-open` when the probe
   * goes through, `closed` when a success or an operator closes it. Never once per request.
   */
  onStateChange?: (state: BreakerState) => void;
  /** Called for each call the circuit refuses (or that routing steers away from it). */
  onRefused?: () => void;
}

/**
 * A circuit breaker per target. After `failureThreshold` consecutive upstream failures (5xx,
 * timeouts, unreachable) it opens: requests fail at once with 503 `circuit_open` instead of
 * waiting on a broken endpoint. After `cooldownMs` one probe goes through (half-open); its
 * success closes the circuit, its failure opens it again. Client mistakes, callers that leave
 * and the gateway's own queue refusals say nothing about the endpoint and are not counted.
 * An operator can close it early (`POST /admin/models/{id}/breakers/reset`).
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;
  private probing = false;
  private probeAt = 0;
  private reported: BreakerState = 'closed';
  private readonly threshold: number;
  private readonly cooldownMs: number;

  constructor(private readonly options: BreakerOptions) {
    this.threshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 30_000;
  }

  get state(): BreakerState {
    if (this.openedAt === undefined) return 'closed';
    return this.options.clock.now() - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /**
   * Whether {@link admit} would let a call through now, without taking the half-open probe: what
   * routing asks before it chooses this target.
   */
  available(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open') return false;
    return !this.probing || this.options.clock.now() - this.probeAt >= this.cooldownMs;
  }

  /** Counts a call that routing steered away from this circuit (see `onRefused`). */
  refused(): void {
    this.options.onRefused?.();
  }

  /**
   * Lets a call through, or refuses it.
   * @throws ServiceUnavailableError (503 `circuit_open`) while open, and while a probe is out
   */
  admit(): void {
    const state = this.state;
    if (state === 'closed') return;
    const now = this.options.clock.now();
    // A probe that never reported (its caller left while queued) does not block forever.
    if (state === 'half-open' && (!this.probing || now - this.probeAt >= this.cooldownMs)) {
      this.probing = true;
      this.probeAt = now;
      this.report('half-open');
      return;
    }
    this.options.onRefused?.();
    const waited = now - this.openedAt!;
    throw new ServiceUnavailableError(
      `${this.options.label} is failing upstream; retry later.`,
      Math.max(1, (this.cooldownMs - waited) / 1000),
      { code: 'circuit_open' },
    );
  }

  /** Records the outcome of a call that `admit` let through. */
  record(error: unknown): void {
    if (error === undefined) {
      this.reset();
      return;
    }
    if (!countsAgainstEndpoint(error)) {
      // The probe told us nothing; let the next call probe instead.
      this.probing = false;
      return;
    }
    this.failures++;
    if (this.probing || this.failures >= this.threshold) {
      this.openedAt = this.options.clock.now();
      this.probing = false;
      this.report('open');
    }
  }

  /** Closes the circuit and forgets past failures. */
  reset(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.probing = false;
    this.report('closed');
  }

  /** Tells `onStateChange` of a change, once: repeats of the same state stay silent. */
  private report(state: BreakerState): void {
    if (state === this.reported) return;
    this.reported = state;
    this.options.onStateChange?.(state);
  }
}

/**
 * Upstream 5xx, timeouts and unreachable endpoints count; the caller's mistakes and departures
 * and the gateway's own refusals (full queue, open circuit) say nothing about the endpoint. Read
 * off the error's `origin`, never its code.
 */
const countsAgainstEndpoint = (error: unknown): boolean =>
  error instanceof GatewayError && error.origin === 'upstream' && error.status >= 500;

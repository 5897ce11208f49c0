/**
 * A token bucket: holds up to `burst` tokens, refills at `ratePerSecond`. Pure arithmetic over
 * the times it is given, so tests drive it with a fake clock.
 */
export class TokenBucket {
  private tokens: number;
  private updatedMs: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.updatedMs = nowMs;
  }

  /** Tokens available at `nowMs` (fractional). */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /** Seconds until one token is available; 0 when one is available now. */
  waitSeconds(nowMs: number): number {
    const t = this.available(nowMs);
    return t >= 1 ? 0 : (1 - t) / this.ratePerSecond;
  }

  /** Seconds until the bucket is full again. */
  secondsToFull(nowMs: number): number {
    return (this.burst - this.available(nowMs)) / this.ratePerSecond;
  }

  /** Takes one token; call only after {@link waitSeconds} said 0. */
  take(nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= 1;
  }

  /** Whether the bucket is full at `nowMs`, i.e. forgetting it loses nothing. */
  isFull(nowMs: number): boolean {
    return this.available(nowMs) >= this.burst;
  }

  private refill(nowMs: number): void {
    // A clock that steps back must not mint tokens nor take them away.
    const elapsed = Math.max(0, nowMs - this.updatedMs);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.ratePerSecond);
    this.updatedMs = Math.max(this.updatedMs, nowMs);
  }
}

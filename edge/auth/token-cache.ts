import { createHash } from 'node:crypto';
import type { Clock } from '../types.js';

/**
 * Remembers verified tokens so that a busy client's repeated token costs a SHA-256 instead of a
 * signature check. Keyed by a hash of the token (the token itself is never kept), bounded in
 * size (least recently used entries go first), and each entry expires with its token.
 */
export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, { value: T; expiresAtMs: number }>();
  private readonly maxEntries: number;
  private readonly clock: Clock;

  /** @param options.maxEntries 0 turns the cache off */
  constructor(options: { maxEntries: number; clock: Clock }) {
    this.maxEntries = options.maxEntries;
    this.clock = options.clock;
  }

  get size(): number {
    return this.entries.size;
  }

  get(token: string): T | undefined {
    if (this.maxEntries === 0) return undefined;
    const key = hashToken(token);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAtMs <= this.clock.now()) return undefined;
    // Re-inserting moves the entry to the young end of the Map's insertion order.
    this.entries.set(key, entry);
    return entry.value;
  }

  set(token: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0 || expiresAtMs <= this.clock.now()) return;
    const key = hashToken(token);
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAtMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** SHA-256 of the token, base64url: a cache key that does not reveal the token. */
export const hashToken = (token: string): string =>
  createHash('sha256').update(token).digest('base64url');

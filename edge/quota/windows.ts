/** A quota window: one UTC day or one UTC month. */
export type WindowKind = 'day' | 'month';

export interface QuotaWindow {
  kind: WindowKind;
  /** Sort key of the window's item: `day#2026-12-02` or `month#2026-12`. */
  id: string;
  /** Epoch ms of the window's first moment. */
  start: number;
  /** Epoch ms of the next window's first moment: when this one resets. */
  resetsAt: number;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The window of `kind` that holds the instant `now` (epoch ms), in UTC. */
export const windowAt = (kind: WindowKind, now: number): QuotaWindow => {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (kind === 'day') {
    const start = Date.UTC(y, m, d.getUTCDate());
    return {
      kind,
      id: `day#${y}-${pad(m + 1)}-${pad(d.getUTCDate())}`,
      start,
      resetsAt: start + 86_400_000,
    };
  }
  return {
    kind,
    id: `month#${y}-${pad(m + 1)}`,
    start: Date.UTC(y, m, 1),
    resetsAt: Date.UTC(y, m + 1, 1),
  };
};

/**
 * A duration in OpenAI's `x-ratelimit-reset-tokens` style: `6m0s`, `1h2m3s`, `20ms`, `3d4h0m0s`.
 */
export const formatResetDuration = (ms: number): string => {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  let s = Math.ceil(total / 1000);
  const days = Math.floor(s / 86_400);
  s -= days * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (days > 0) return `${days}d${h}h${m}m${s}s`;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
};

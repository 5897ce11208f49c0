/** The latency model and the load the benchmark puts on it: α = 20 ms, β = 0.3 ms, 1 × 2 slots. */
export const MODEL = { alphaMs: 20, betaMs: 0.3, slotsPerInstance: 2, instances: 1 } as const;
export const MAX_BATCH = 64;

/** Endpoints of the simulator process. `fast` costs nothing, to isolate the gateway's own time. */
export const ENDPOINTS = {
  batched: 'gpu-batched',
  single: 'gpu-single',
  direct: 'gpu-direct',
  fast: 'fast',
} as const;

/** Models of the gateway process. */
export const MODELS = {
  batched: 'embed-batched',
  single: 'embed-single',
  fast: 'embed-fast',
} as const;

export const ISSUER = 'http://127.0.0.1:9/bench-issuer';
export const CLIENT_ID = 'bench-client';

/** Messages between the benchmark and its child processes. */
export type ChildMessage =
  | { type: 'ready'; urls: Record<string, string> }
  | {
      type: 'stats';
      stats: Record<string, { invocations: number; items: number; maxBatch: number }>;
    };

import type { GatewayConfig, ModelConfig } from '../../shared/config/schema.js';
import {
  NotFoundError,
  PreconditionFailedError,
  InvalidRequestError,
} from '../../shared/errors.js';

/** `serving` takes requests; `paused` and `draining` refuse new ones with 503. */
export type ModelState = 'serving' | 'paused' | 'draining';

export interface TargetRuntime {
  readonly id: string;
  readonly endpoint: string;
  readonly variant: string | undefined;
  /** Share of requests, 0–100. */
  readonly weight: number;
}

export interface ModelRuntime {
  readonly config: ModelConfig;
  readonly targets: readonly TargetRuntime[];
  readonly state: ModelState;
  /** Increases on every change; the admin API's ETag. */
  readonly version: number;
}

export type RegistryChange =
  | { kind: 'weights'; model: string; before: ModelRuntime; after: ModelRuntime }
  | { kind: 'state'; model: string; before: ModelRuntime; after: ModelRuntime };

/**
 * The live, mutable view of the model catalogue: traffic weights and serving state per model.
 * The catalogue file seeds it; the admin API changes it. Changes are atomic per model and
 * guarded by `version`, so two concurrent writers cannot silently overwrite each other.
 */
export class ModelRegistry {
  private readonly models = new Map<string, ModelRuntime>();
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private readonly random: () => number;

  constructor(config: GatewayConfig, options: { random?: () => number } = {}) {
    this.random = options.random ?? Math.random;
    for (const m of config.models) {
      this.models.set(m.id, {
        config: m,
        targets: m.targets.map((t) => ({
          id: t.id,
          endpoint: t.endpoint,
          variant: t.variant,
          weight: t.weight,
        })),
        state: 'serving',
        version: 1,
      });
    }
  }

  list(): ModelRuntime[] {
    return [...this.models.values()];
  }

  get(id: string): ModelRuntime | undefined {
    return this.models.get(id);
  }

  /** @throws NotFoundError for an unknown model, worded as OpenAI words it. */
  require(id: string): ModelRuntime {
    const model = this.models.get(id);
    if (!model) {
      throw new NotFoundError(
        `The model '${truncate(id)}' does not exist or you do not have access to it.`,
        {
          code: 'model_not_found',
          param: 'model',
        },
      );
    }
    return model;
  }

  /** Picks a target by weight. Targets of weight 0 are never picked. */
  pick(model: ModelRuntime): TargetRuntime {
    const total = model.targets.reduce((s, t) => s + t.weight, 0);
    let r = this.random() * total;
    for (const t of model.targets) {
      if (t.weight <= 0) continue;
      r -= t.weight;
      if (r < 0) return t;
    }
    // Only reachable through rounding at r ≈ total: the last target with weight.
    return [...model.targets].reverse().find((t) => t.weight > 0) ?? model.targets[0]!;
  }

  /**
   * Sets the weights of a model's targets.
   * @param expectedVersion when given, the change applies only if the model is still at it
   * @throws InvalidRequestError for unknown targets or weights not summing to 100
   * @throws PreconditionFailedError when `expectedVersion` is stale
   */
  setWeights(id: string, weights: Record<string, number>, expectedVersion?: number): ModelRuntime {
    const before = this.requireAt(id, expectedVersion);
    const known = new Set(before.targets.map((t) => t.id));
    for (const [target, w] of Object.entries(weights)) {
      if (!known.has(target))
        throw new InvalidRequestError(`Model '${id}' has no target '${target}'.`, {
          param: 'weights',
        });
      if (!Number.isInteger(w) || w < 0 || w > 100) {
        throw new InvalidRequestError(`Weight of '${target}' must be an integer from 0 to 100.`, {
          param: `weights.${target}`,
        });
      }
    }
    const targets = before.targets.map((t) => ({ ...t, weight: weights[t.id] ?? t.weight }));
    const sum = targets.reduce((s, t) => s + t.weight, 0);
    if (sum !== 100)
      throw new InvalidRequestError(`Weights sum to ${sum}; they must sum to 100.`, {
        param: 'weights',
      });
    const after: ModelRuntime = { ...before, targets, version: before.version + 1 };
    this.models.set(id, after);
    this.emit({ kind: 'weights', model: id, before, after });
    return after;
  }

  /** Pauses, drains or resumes a model. Same version rule as {@link setWeights}. */
  setState(id: string, state: ModelState, expectedVersion?: number): ModelRuntime {
    const before = this.requireAt(id, expectedVersion);
    const after: ModelRuntime = { ...before, state, version: before.version + 1 };
    this.models.set(id, after);
    this.emit({ kind: 'state', model: id, before, after });
    return after;
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private requireAt(id: string, expectedVersion: number | undefined): ModelRuntime {
    const model = this.require(id);
    if (expectedVersion !== undefined && model.version !== expectedVersion) {
      throw new PreconditionFailedError(
        `Model '${id}' changed since version ${expectedVersion} (now ${model.version}); re-read it and retry.`,
      );
    }
    return model;
  }

  private emit(change: RegistryChange): void {
    for (const l of this.listeners) l(change);
  }
}

const truncate = (s: string): string => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

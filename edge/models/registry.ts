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
  /** `InferenceComponentName`: the model is an inference component on a shared endpoint. */
  readonly inferenceComponent: string | undefined;
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

/**
 * The live, mutable view of the model catalogue: traffic weights and serving state per model.
 * The catalogue file seeds it; the admin API changes it. Changes are atomic per model and
 * guarded by `version`, so two concurrent writers cannot silently overwrite each other.
 */
export class ModelRegistry {
  private readonly models = new Map<string, ModelRuntime>();
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
          inferenceComponent: t.inferenceComponent,
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

  /**
   * Picks a target by weight, failing over where the weighted choice cannot serve: `intended` is
   * the plain weighted choice; `target` is `intended` when `usable` accepts it, otherwise a
   * weighted choice among the other usable targets, or `undefined` when none is left. Targets of
   * weight 0 (drained by an operator) are never picked.
   */
  pick(
    model: ModelRuntime,
    usable: (target: TargetRuntime) => boolean = () => true,
  ): { intended: TargetRuntime; target: TargetRuntime | undefined } {
    const weighted = model.targets.filter((t) => t.weight > 0);
    const intended = byWeight(weighted, this.random()) ?? model.targets[0]!;
    if (usable(intended)) return { intended, target: intended };
    const rest = weighted.filter((t) => t !== intended && usable(t));
    return { intended, target: byWeight(rest, this.random()) };
  }

  /**
   * Sets the weights of a model's targets.
   * @param expectedVersion when given, the change applies only if the model is still at it
   * @throws InvalidRequestError for unknown targets or weights not summing to 100
   * @throws PreconditionFailedError when `expectedVersion` is stale
   */
  setWeights(id: string, weights: Record<string, number>, expectedVersion?: number): ModelRuntime {
    const before = this.requireAt(id, expectedVersion);
    const full = resolveWeights(before, weights);
    const targets = before.targets.map((t) => ({ ...t, weight: full[t.id]! }));
    const after: ModelRuntime = { ...before, targets, version: before.version + 1 };
    this.models.set(id, after);
    return after;
  }

  /** Pauses, drains or resumes a model. Same version rule as {@link setWeights}. */
  setState(id: string, state: ModelState, expectedVersion?: number): ModelRuntime {
    const before = this.requireAt(id, expectedVersion);
    const after: ModelRuntime = { ...before, state, version: before.version + 1 };
    this.models.set(id, after);
    return after;
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
}

/** The target `r` (0 ≤ r < 1) falls on when the targets share [0, 1) by weight. */
const byWeight = (targets: readonly TargetRuntime[], r: number): TargetRuntime | undefined => {
  const total = targets.reduce((s, t) => s + t.weight, 0);
  let left = r * total;
  for (const t of targets) {
    left -= t.weight;
    if (left < 0) return t;
  }
  // Only reachable through rounding at r ≈ 1: the last one.
  return targets.at(-1);
};

const truncate = (s: string): string => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

/**
 * Checks new weights against a model's targets: every id known, each an integer from 0 to 100,
 * the total exactly 100 (targets not named keep theirs). Returns one weight per target. The
 * admin API calls it before starting a traffic shift; `setWeights` calls it again on apply.
 * @throws InvalidRequestError naming the offending target
 */
export const resolveWeights = (
  model: ModelRuntime,
  weights: Record<string, number>,
): Record<string, number> => {
  const known = new Set(model.targets.map((t) => t.id));
  for (const [id, w] of Object.entries(weights)) {
    if (!known.has(id)) {
      throw new InvalidRequestError(`Model '${model.config.id}' has no target '${id}'.`, {
        param: `weights.${id}`,
        code: 'unknown_target',
      });
    }
    if (!Number.isInteger(w) || w < 0 || w > 100) {
      throw new InvalidRequestError(`Weight of '${id}' must be an integer from 0 to 100.`, {
        param: `weights.${id}`,
        code: 'invalid_weights',
      });
    }
  }
  const full = Object.fromEntries(model.targets.map((t) => [t.id, weights[t.id] ?? t.weight]));
  const sum = Object.values(full).reduce((s, w) => s + w, 0);
  if (sum !== 100) {
    throw new InvalidRequestError(`Weights sum to ${sum}; they must sum to 100.`, {
      param: 'weights',
      code: 'invalid_weights',
    });
  }
  return full;
};

import type { ModelRegistry, ModelRuntime } from '../models/registry.js';

/** A request to give a model's targets new traffic weights (validated: ids known, sum 100). */
export interface WeightChange {
  /** The model as read when the change was accepted. */
  before: ModelRuntime;
  /** The full set of weights, one per target. */
  weights: Record<string, number>;
  /** `set` by an administrator, or `rollback` to the previous weights. */
  reason: 'set' | 'rollback';
  /** Who asked, for the record the implementation keeps. */
  requestedBy: string;
  requestId: string;
}

/** What applying a weight change produced. */
export interface WeightChangeResult {
  after: ModelRuntime;
  /** The Step Functions execution that carries the change to SageMaker, when there is one. */
  executionArn?: string;
}

/**
 * Where traffic weights take effect. In memory, the gateway's own weighted target choice; on AWS
 * also the SageMaker production-variant weights, moved by the traffic-shift state machine.
 * Implementations apply the change only if the model is still at `before.version`.
 */
export interface TrafficController {
  /** Short name for logs and the admin API (`memory`, `step-functions`). */
  readonly kind: string;
  /** @throws PreconditionFailedError when the model changed since `before` */
  applyWeights(change: WeightChange): Promise<WeightChangeResult>;
}

/** Weights held by the in-process {@link ModelRegistry} only (local mode, tests). */
export class InMemoryTrafficController implements TrafficController {
  readonly kind = 'memory';
  constructor(private readonly registry: ModelRegistry) {}

  async applyWeights(change: WeightChange): Promise<WeightChangeResult> {
    const after = this.registry.setWeights(
      change.before.config.id,
      change.weights,
      change.before.version,
    );
    return { after };
  }
}

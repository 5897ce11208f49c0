import type { CanaryPolicy, VariantDeployment, VariantModelDeployment } from './schema.js';

/**
 * SageMaker blue/green deployments of a model's own endpoint: which traffic routing an endpoint
 * can honour, how long a deployment may run, and the checks the config applies before synth.
 *
 * Facts from the SageMaker API reference:
 * - `TrafficRoutingConfig.CanarySize`: "Value must be less than or equal to 50% of the variant's
 *   total instance count"; `WaitIntervalInSeconds` is 0–3600.
 * - `BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds` is 600–28800 and "should be larger
 *   than the total waiting time specified in TerminationWaitInSeconds and WaitIntervalInSeconds".
 */

/** The largest WaitIntervalInSeconds SageMaker accepts in a blue/green traffic routing config. */
export const SAGEMAKER_MAX_WAIT_SECONDS = 3600;

/** SageMaker's bounds on a blue/green deployment's MaximumExecutionTimeoutInSeconds. */
export const BLUE_GREEN_TIMEOUT_SECONDS = { min: 600, max: 28_800 } as const;

/** Time one instance may take to download the model and pass its health check, each. */
export const VARIANT_STARTUP_SECONDS = 1800;

/** SageMaker's blue/green bake per step: the configured bake, capped at SageMaker's maximum. */
export function sagemakerBakeSeconds(bakeMinutes: number): number {
  return Math.min(SAGEMAKER_MAX_WAIT_SECONDS, bakeMinutes * 60);
}

/** How an endpoint's new fleet takes traffic. */
export type EndpointTrafficRouting =
  { readonly type: 'CANARY'; readonly canaryInstances: number } | { readonly type: 'ALL_AT_ONCE' };

/** Variants that may run fewer than twice the canary's instances (their `minCapacity`). */
export function variantsTooSmallForCanary(
  model: Pick<VariantModelDeployment, 'variants'>,
  canaryInstances: number,
): VariantDeployment[] {
  return model.variants.filter((v) => v.minCapacity < 2 * canaryInstances);
}

/**
 * The routing an endpoint's blue/green deployment uses. `canary` sends the first
 * `endpointCanaryInstances` instances of each variant's new fleet their share of traffic, bakes,
 * then moves the rest; it needs every variant to keep at least twice that many instances, because
 * a variant may be at `minCapacity` when a deployment starts. `all-at-once` moves all traffic to the
 * new fleet in one step, then bakes with the same alarms, keeping the old fleet until the bake and
 * `terminationWaitSeconds` pass. `auto` picks `canary` where it can be honoured and `all-at-once`
 * elsewhere (single-instance variants).
 */
export function endpointTrafficRouting(
  model: Pick<VariantModelDeployment, 'variants'>,
  canary: Pick<CanaryPolicy, 'endpointUpdate' | 'endpointCanaryInstances'>,
): EndpointTrafficRouting {
  const fits = variantsTooSmallForCanary(model, canary.endpointCanaryInstances).length === 0;
  if (canary.endpointUpdate === 'all-at-once' || (canary.endpointUpdate === 'auto' && !fits)) {
    return { type: 'ALL_AT_ONCE' };
  }
  return { type: 'CANARY', canaryInstances: canary.endpointCanaryInstances };
}

/** The waits SageMaker counts: a bake after each traffic step, then the termination wait. */
export function blueGreenWaitSeconds(
  routing: EndpointTrafficRouting,
  canary: Pick<CanaryPolicy, 'bakeMinutes' | 'terminationWaitSeconds'>,
): number {
  const steps = routing.type === 'CANARY' ? 2 : 1;
  return steps * sagemakerBakeSeconds(canary.bakeMinutes) + canary.terminationWaitSeconds;
}

/**
 * The deployment's MaximumExecutionTimeoutInSeconds: `endpointUpdateTimeoutMinutes` when set,
 * otherwise the waits plus the time the new fleet may take to start (model download and health
 * check, {@link VARIANT_STARTUP_SECONDS} each), within SageMaker's bounds.
 */
export function blueGreenTimeoutSeconds(
  routing: EndpointTrafficRouting,
  canary: Pick<
    CanaryPolicy,
    'bakeMinutes' | 'terminationWaitSeconds' | 'endpointUpdateTimeoutMinutes'
  >,
): number {
  if (canary.endpointUpdateTimeoutMinutes !== undefined) {
    return canary.endpointUpdateTimeoutMinutes * 60;
  }
  const { min, max } = BLUE_GREEN_TIMEOUT_SECONDS;
  const needed = blueGreenWaitSeconds(routing, canary) + 2 * VARIANT_STARTUP_SECONDS;
  return Math.min(max, Math.max(min, needed));
}

/** A config problem: where it is (a path under the config) and what to change. */
export interface ConfigIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * Blue/green policies that SageMaker could not honour, for every model on its own endpoint:
 * `endpointUpdate: canary` on a variant too small for the canary, and an execution timeout no
 * longer than the deployment's waits.
 *
 * @param models the config's models, in order (components are skipped; their index is kept).
 */
export function blueGreenIssues(
  models: readonly { readonly hosting: string; readonly variants?: readonly VariantDeployment[] }[],
  canary: CanaryPolicy,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  models.forEach((m, i) => {
    if (m.hosting !== 'endpoint' || !m.variants) return;
    const model = { variants: [...m.variants] };
    if (canary.endpointUpdate === 'canary') {
      for (const v of variantsTooSmallForCanary(model, canary.endpointCanaryInstances)) {
        const j = m.variants.indexOf(v);
        issues.push({
          path: ['canary', 'endpointUpdate'],
          message:
            `models[${i}].variants[${j}] (${v.name}) may run ${v.minCapacity} instance(s) (minCapacity), and SageMaker's ` +
            `canary must be at most half a variant's instances, so a ${canary.endpointCanaryInstances}-instance canary cannot ` +
            `be honoured: set canary.endpointUpdate to "auto" or "all-at-once", or raise that variant's minCapacity ` +
            `(and initialInstanceCount) to ${2 * canary.endpointCanaryInstances}`,
        });
      }
    }
    if (canary.endpointUpdateTimeoutMinutes !== undefined) {
      const waits = blueGreenWaitSeconds(endpointTrafficRouting(model, canary), canary);
      if (canary.endpointUpdateTimeoutMinutes * 60 <= waits) {
        issues.push({
          path: ['canary', 'endpointUpdateTimeoutMinutes'],
          message:
            `${canary.endpointUpdateTimeoutMinutes} minutes does not exceed the ${waits} s models[${i}]'s blue/green ` +
            `deployment waits (bakes of bakeMinutes, capped at 3600 s, plus terminationWaitSeconds); raise it, leaving ` +
            `time for the new fleet to start, or shorten those waits`,
        });
      }
    }
  });
  return issues;
}

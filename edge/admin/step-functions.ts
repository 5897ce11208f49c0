import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ServiceUnavailableError } from '../../shared/errors.js';
import type { ModelRegistry } from '../models/registry.js';
import {
  InMemoryTrafficController,
  type TrafficController,
  type WeightChange,
  type WeightChangeResult,
} from './traffic.js';

export interface StepFunctionsTrafficControllerOptions {
  registry: ModelRegistry;
  /** ARN of the traffic-shift state machine (`SLUICE_TRAFFIC_STATE_MACHINE_ARN`). */
  stateMachineArn: string;
  /** @default a new `SFNClient` for the ambient region and credentials */
  client?: SFNClient;
}

/**
 * The input the traffic-shift state machine receives: per target, the SageMaker endpoint, its
 * production variant (when pinned) and the new weight. The state machine calls
 * `UpdateEndpointWeightsAndCapacities` and watches the alarms; this is its contract.
 */
export interface TrafficShiftInput {
  model: string;
  fromVersion: number;
  reason: 'set' | 'rollback';
  requestedBy: string;
  requestId: string;
  targets: { id: string; endpoint: string; variant: string | null; weight: number }[];
}

/**
 * Starts the traffic-shift state machine for every weight change, then applies the weights to
 * this process's registry so its own target choice follows at once. Execution names carry the
 * model, version and request id: unique across restarts (versions restart at 1), traceable
 * from the audit line, and a retry with the same request id gets the same execution back.
 */
export class StepFunctionsTrafficController implements TrafficController {
  readonly kind = 'step-functions';
  private readonly client: SFNClient;
  private readonly registry: ModelRegistry;
  private readonly stateMachineArn: string;

  constructor(options: StepFunctionsTrafficControllerOptions) {
    if (
      !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]{1,80}$/.test(
        options.stateMachineArn,
      )
    ) {
      throw new Error(`Not a Step Functions state machine ARN: ${options.stateMachineArn}`);
    }
    this.registry = options.registry;
    this.stateMachineArn = options.stateMachineArn;
    this.client = options.client ?? new SFNClient({});
  }

  async applyWeights(change: WeightChange): Promise<WeightChangeResult> {
    const { before } = change;
    const input: TrafficShiftInput = {
      model: before.config.id,
      fromVersion: before.version,
      reason: change.reason,
      requestedBy: change.requestedBy,
      requestId: change.requestId,
      targets: before.targets.map((t) => ({
        id: t.id,
        endpoint: t.endpoint,
        variant: t.variant ?? null,
        weight: change.weights[t.id] ?? t.weight,
      })),
    };
    let executionArn: string | undefined;
    try {
      const out = await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: executionName(before.config.id, before.version, change.requestId),
          input: JSON.stringify(input),
        }),
      );
      executionArn = out.executionArn;
    } catch (cause) {
      throw new ServiceUnavailableError(
        'The traffic shift could not be started; nothing changed.',
        5,
        {
          code: 'traffic_shift_unavailable',
          cause,
        },
      );
    }
    const after = this.registry.setWeights(before.config.id, change.weights, before.version);
    return { after, ...(executionArn ? { executionArn } : {}) };
  }
}

/** Execution names allow 80 characters of `[A-Za-z0-9_-]`. */
export const executionName = (model: string, version: number, requestId: string): string => {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '-');
  return `${safe(model).slice(0, 40)}-v${version}-${safe(requestId).slice(0, 28)}`.slice(0, 80);
};

/**
 * The traffic controller the environment asks for: Step Functions when
 * `SLUICE_TRAFFIC_STATE_MACHINE_ARN` is set, otherwise weights in memory. Pass the same
 * `registry` to `createApp`.
 *
 * @example
 * const registry = new ModelRegistry(config);
 * createApp({ config, registry, traffic: trafficFromEnv(process.env, registry), … });
 */
export const trafficFromEnv = (
  env: { SLUICE_TRAFFIC_STATE_MACHINE_ARN?: string | undefined },
  registry: ModelRegistry,
  client?: SFNClient,
): TrafficController => {
  const arn = env.SLUICE_TRAFFIC_STATE_MACHINE_ARN?.trim();
  if (!arn) return new InMemoryTrafficController(registry);
  return new StepFunctionsTrafficController({
    registry,
    stateMachineArn: arn,
    ...(client ? { client } : {}),
  });
};

import { gatewayConfigSchema, type GatewayConfigInput } from '../../shared/config/schema.js';
import type { ModelDeployment, SluiceConfig } from './schema.js';
import { gatewayFleet, perWorkerShare } from './gateway-fleet.js';

/**
 * Builds the gateway's model catalogue (`SLUICE_CONFIG_JSON`) from the deployment config: one
 * gateway model per deployed model with a single target:
 *
 * - a model on its own endpoint: the endpoint, no `TargetVariant` pinned, so SageMaker splits
 *   traffic by the endpoint's current variant weights (which the traffic shifter changes without
 *   a gateway redeploy);
 * - an inference component: the shared endpoint and the component's name, which the gateway
 *   passes as `InferenceComponentName`.
 *
 * Generation models speak `openai`: the LMI (vLLM) container takes the OpenAI chat body on
 * `/invocations` and applies the model's chat template and parsers. With a reasoning parser the
 * container returns `reasoning_content` (`field`); without one, DeepSeek-R1 distills write their
 * reasoning into `<think>` tags, which the gateway splits out (`think-tags`).
 *
 * The result is validated with the gateway's own schema, so a catalogue the gateway would refuse
 * at start-up fails `cdk synth` instead.
 */
export function gatewayCatalogue(config: SluiceConfig): GatewayConfigInput {
  const fleet = gatewayFleet(config.gateway);
  const catalogue: GatewayConfigInput = {
    models: config.models.map((m) => {
      const embedding = m.kind === 'embedding';
      return {
        id: m.id,
        kind: m.kind,
        policy: embedding ? 'batch' : 'admit',
        format: embedding ? 'tei' : 'openai',
        ...(embedding ? {} : { reasoning: m.reasoningParser ? 'field' : 'think-tags' }),
        // Budgets live in each gateway worker: each gets its share of the engine's concurrency.
        ...workerBudget(embedding, perWorkerShare(m.gatewayConcurrency, fleet)),
        targets: [target(m)],
      };
    }),
    upstream: { region: config.region },
  };
  const parsed = gatewayConfigSchema.safeParse(catalogue);
  if (!parsed.success) {
    throw new Error(`The generated gateway catalogue is invalid: ${parsed.error.message}`);
  }
  return catalogue;
}

function target(m: ModelDeployment): {
  id: string;
  endpoint: string;
  inferenceComponent?: string;
  weight: number;
} {
  if (m.hosting === 'component') {
    return {
      id: 'default',
      endpoint: m.inferenceComponent.endpoint,
      inferenceComponent: m.inferenceComponent.name,
      weight: 100,
    };
  }
  return { id: 'default', endpoint: m.endpointName, weight: 100 };
}

/** One worker's budget against the model's target (docs/lambda.md). */
function workerBudget(
  embedding: boolean,
  share: number,
): Pick<GatewayConfigInput['models'][number], 'admit' | 'batch'> {
  if (embedding) {
    return { batch: { maxConcurrentBatches: share, maxInflightBatches: Math.min(2, share) } };
  }
  return { admit: { maxConcurrency: share } };
}

import { gatewayConfigSchema, type GatewayConfigInput } from '../../shared/config/schema.js';
import type { SluiceConfig } from './schema.js';

/**
 * Builds the gateway's model catalogue (`SLUICE_CONFIG_JSON`) from the deployment config: one
 * gateway model per deployed model with a single target on its endpoint, no `TargetVariant`
 * pinned, so SageMaker splits traffic by the endpoint's current variant weights (which the
 * traffic shifter changes without a gateway redeploy).
 *
 * The result is validated with the gateway's own schema, so a catalogue the gateway would refuse
 * at start-up fails `cdk synth` instead.
 */
export function gatewayCatalogue(config: SluiceConfig): GatewayConfigInput {
  const catalogue: GatewayConfigInput = {
    models: config.models.map((m) => ({
      id: m.id,
      kind: m.kind,
      policy: m.kind === 'embedding' ? 'batch' : 'admit',
      format: m.kind === 'embedding' ? 'tei' : 'tgi',
      targets: [{ id: 'default', endpoint: m.endpointName, weight: 100 }],
    })),
    upstream: { region: config.region },
  };
  const parsed = gatewayConfigSchema.safeParse(catalogue);
  if (!parsed.success) {
    throw new Error(`The generated gateway catalogue is invalid: ${parsed.error.message}`);
  }
  return catalogue;
}

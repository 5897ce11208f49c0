import { parseGatewayConfig } from '../../shared/config/load.js';
import type { GatewayConfig, GatewayConfigInput } from '../../shared/config/schema.js';

/** A small valid catalogue: one chat model, one completion model, one embedding model. */
export const testConfig = (overrides: Partial<GatewayConfigInput> = {}): GatewayConfig =>
  parseGatewayConfig({
    models: [
      {
        id: 'chat-model',
        kind: 'chat',
        policy: 'admit',
        format: 'tgi',
        endpoint: 'chat-ep',
        limits: { maxTokens: 512 },
      },
      { id: 'text-model', kind: 'completion', policy: 'admit', format: 'tgi', endpoint: 'text-ep' },
      {
        id: 'embed-model',
        kind: 'embedding',
        policy: 'batch',
        format: 'tei',
        endpoint: 'embed-ep',
        dimensions: 4,
        limits: { maxInputs: 8, maxInputChars: 1000 },
      },
    ],
    ...overrides,
  });

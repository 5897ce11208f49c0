import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  executionName,
  StepFunctionsTrafficController,
  trafficFromEnv,
} from '../../../edge/admin/step-functions.js';
import { ModelRegistry } from '../../../edge/models/registry.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';
import type { AuditRecord } from '../../../edge/admin/audit.js';
import { bearer, identityHarness, type IdentityHarness } from '../auth/harness.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-traffic-shift';
const sfn = mockClient(SFNClient);
const config = parseGatewayConfig({
  models: [
    {
      id: 'deepseek/r1',
      kind: 'chat',
      policy: 'admit',
      format: 'tgi',
      targets: [
        { id: 'stable', endpoint: 'r1', variant: 'g5-v1', weight: 100 },
        { id: 'canary', endpoint: 'r1', variant: 'g5-v2', weight: 0 },
      ],
    },
  ],
});

let h: IdentityHarness;
beforeAll(async () => {
  h = await identityHarness();
});
afterAll(() => h.close());
beforeEach(() => sfn.reset());

describe('StepFunctionsTrafficController', () => {
  it('starts the traffic-shift state machine with every target weight, then updates the registry', async () => {
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: `${ARN}:exec-1`, startDate: new Date() });
    const registry = new ModelRegistry(config);
    const controller = new StepFunctionsTrafficController({
      registry,
      stateMachineArn: ARN,
      client: new SFNClient({}),
    });
    const before = registry.require('deepseek/r1');
    const result = await controller.applyWeights({
      before,
      weights: { stable: 90, canary: 10 },
      reason: 'set',
      requestedBy: 'alice',
      requestId: 'req-1',
    });
    expect(result.executionArn).toBe(`${ARN}:exec-1`);
    expect(result.after.targets.map((t) => t.weight)).toEqual([90, 10]);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.stateMachineArn).toBe(ARN);
    expect(input.name).toBe('deepseek-r1-v1-req-1');
    expect(JSON.parse(input.input!)).toEqual({
      model: 'deepseek/r1',
      fromVersion: 1,
      reason: 'set',
      requestedBy: 'alice',
      requestId: 'req-1',
      targets: [
        { id: 'stable', endpoint: 'r1', variant: 'g5-v1', weight: 90 },
        { id: 'canary', endpoint: 'r1', variant: 'g5-v2', weight: 10 },
      ],
    });
  });

  it('changes nothing and answers 503 when the execution cannot start', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const registry = new ModelRegistry(config);
    const controller = new StepFunctionsTrafficController({
      registry,
      stateMachineArn: ARN,
      client: new SFNClient({}),
    });
    await expect(
      controller.applyWeights({
        before: registry.require('deepseek/r1'),
        weights: { stable: 0, canary: 100 },
        reason: 'set',
        requestedBy: 'alice',
        requestId: 'req-2',
      }),
    ).rejects.toMatchObject({ status: 503, code: 'traffic_shift_unavailable' });
    expect(registry.require('deepseek/r1').version).toBe(1);
  });

  it('refuses a malformed state machine ARN at construction', () => {
    expect(
      () =>
        new StepFunctionsTrafficController({
          registry: new ModelRegistry(config),
          stateMachineArn: 'nope',
        }),
    ).toThrow(/ARN/);
  });

  it('is chosen by SLUICE_TRAFFIC_STATE_MACHINE_ARN, with weights in memory without it', () => {
    const registry = new ModelRegistry(config);
    expect(trafficFromEnv({ SLUICE_TRAFFIC_STATE_MACHINE_ARN: ARN }, registry).kind).toBe(
      'step-functions',
    );
    expect(trafficFromEnv({}, registry).kind).toBe('memory');
  });

  it('keeps execution names within the 80-character alphabet', () => {
    const name = executionName('org/a'.repeat(30), 12345, 'x'.repeat(100));
    expect(name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });

  it('carries the execution ARN into the admin audit line', async () => {
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: `${ARN}:exec-9`, startDate: new Date() });
    const audit: AuditRecord[] = [];
    const registry = new ModelRegistry(config);
    const { app } = h.app({
      config: { models: config.models as never },
      registry,
      audit: { write: (record) => void audit.push(record) },
      traffic: new StepFunctionsTrafficController({
        registry,
        stateMachineArn: ARN,
        client: new SFNClient({}),
      }),
    });
    const res = await app.request('/admin/models/deepseek%2Fr1/weights', {
      method: 'PUT',
      headers: {
        ...bearer(await h.token('admin')),
        'if-match': '*',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ weights: { stable: 75, canary: 25 } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'deepseek/r1', traffic: 'step-functions' });
    expect(audit).toEqual([
      expect.objectContaining({ action: 'weights.set', executionArn: `${ARN}:exec-9` }),
    ]);
  });
});

import {
  CodeDeployClient,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { runPreTrafficHook } from '../../../functions/pre-traffic/handler.js';

const lambdaMock = mockClient(LambdaClient);
const codeDeployMock = mockClient(CodeDeployClient);
const event = { DeploymentId: 'd-123', LifecycleEventHookExecutionId: 'hook-1' };
const targetVersionArn = 'arn:aws:lambda:us-east-1:111111111111:function:gateway:7';
const payload = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const run = () =>
  runPreTrafficHook(event, {
    targetVersionArn,
    lambda: new LambdaClient({ region: 'us-east-1' }),
    codeDeploy: new CodeDeployClient({ region: 'us-east-1' }),
  });

describe('pre-traffic hook', () => {
  beforeEach(() => {
    lambdaMock.reset();
    codeDeployMock.reset();
    codeDeployMock.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
  });

  it('reports Succeeded when the new version answers the health probe with 200', async () => {
    lambdaMock
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, Payload: payload({ statusCode: 200, body: '{}' }) as never });
    await expect(run()).resolves.toBe('Succeeded');
    const invoke = lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(invoke.FunctionName).toBe(targetVersionArn);
    const probe = JSON.parse(new TextDecoder().decode(invoke.Payload as Uint8Array));
    expect(probe).toMatchObject({
      version: '2.0',
      rawPath: '/healthz',
      requestContext: { http: { method: 'GET' } },
    });
    expect(
      codeDeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand)[0]!.args[0].input,
    ).toEqual({
      deploymentId: 'd-123',
      lifecycleEventHookExecutionId: 'hook-1',
      status: 'Succeeded',
    });
  });

  it('reads the status from the prelude of a streamed response', async () => {
    const streamed = new TextEncoder().encode(
      `${JSON.stringify({ statusCode: 200, headers: { 'content-type': 'application/json' } })}${'\u0000'.repeat(8)}{"status":"ok"}`,
    );
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: streamed as never });
    await expect(run()).resolves.toBe('Succeeded');
  });

  it('reports Failed when the payload is neither JSON nor a streamed prelude', async () => {
    lambdaMock
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, Payload: new TextEncoder().encode('garbage') as never });
    await expect(run()).resolves.toBe('Failed');
  });

  it('reports Failed when the health probe answers 503', async () => {
    lambdaMock
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, Payload: payload({ statusCode: 503 }) as never });
    await expect(run()).resolves.toBe('Failed');
    expect(
      codeDeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand)[0]!.args[0].input
        .status,
    ).toBe('Failed');
  });

  it('reports Failed when the function errors', async () => {
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorMessage: 'boom' }) as never,
    });
    await expect(run()).resolves.toBe('Failed');
  });

  it('reports Failed when the invocation itself throws', async () => {
    lambdaMock.on(InvokeCommand).rejects(new Error('ResourceNotReady'));
    await expect(run()).resolves.toBe('Failed');
    expect(codeDeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand)).toHaveLength(
      1,
    );
  });
});

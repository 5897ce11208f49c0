import {
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';

const control = mockClient(SageMakerClient);
const invoker = new SageMakerInvoker({ control: new SageMakerClient({ region: 'us-east-1' }) });
const component = { endpoint: 'shared', variant: undefined, inferenceComponent: 'r1-ic' };

beforeEach(() => {
  control.reset();
  control.on(DescribeEndpointCommand).resolves({ EndpointStatus: 'InService' });
});

const componentIs = (out: Record<string, unknown>) =>
  control.on(DescribeInferenceComponentCommand, { InferenceComponentName: 'r1-ic' }).resolves(out);

describe('readiness of an inference component', () => {
  it('is ready when its endpoint and the component are in service, at zero copies too', async () => {
    componentIs({
      EndpointName: 'shared',
      InferenceComponentStatus: 'InService',
      RuntimeConfig: { CurrentCopyCount: 0, DesiredCopyCount: 0 },
    });
    await expect(invoker.checkReady(component, 1000)).resolves.toBeUndefined();
    expect(control.commandCalls(DescribeInferenceComponentCommand)).toHaveLength(1);
  });

  it('is not ready while the component is still being created, or lives on another endpoint', async () => {
    componentIs({ EndpointName: 'shared', InferenceComponentStatus: 'Creating' });
    await expect(invoker.checkReady(component, 1000)).rejects.toThrow(/Creating/);
    componentIs({ EndpointName: 'other', InferenceComponentStatus: 'InService' });
    await expect(invoker.checkReady(component, 1000)).rejects.toThrow(/other/);
  });

  it('does not ask about components for a target that names none', async () => {
    await invoker.checkReady({ endpoint: 'shared', variant: undefined }, 1000);
    expect(control.commandCalls(DescribeInferenceComponentCommand)).toHaveLength(0);
  });
});

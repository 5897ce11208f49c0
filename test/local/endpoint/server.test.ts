import {
  DescribeEndpointCommand,
  SageMakerClient,
  type SageMakerServiceException,
} from '@aws-sdk/client-sagemaker';
import {
  InternalStreamFailure,
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  ModelError,
  ModelStreamError,
  SageMakerRuntimeClient,
  type SageMakerRuntimeServiceException,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  EndpointFault,
  type EndpointBackend,
  type InvocationInput,
} from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);

/** A backend whose behaviour each test sets; it records what it was called with. */
function scriptedBackend() {
  const backend = {
    calls: [] as InvocationInput[],
    invoke: async (input: InvocationInput) =>
      ({ body: input.body }) as Awaited<ReturnType<EndpointBackend['invoke']>>,
    stream: async function* (_input: InvocationInput): AsyncGenerator<Uint8Array> {},
  };
  const api: EndpointBackend = {
    invoke: (input) => {
      backend.calls.push(input);
      return backend.invoke(input);
    },
    invokeStream: (input) => {
      backend.calls.push(input);
      return backend.stream(input);
    },
    describe: () => ({ variants: [{ name: 'blue', weight: 1, instanceCount: 2 }] }),
  };
  return { backend, api };
}

/** Resolves when `signal` aborts, so a test can see the abort reach the backend. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The error a call fails with; a call that succeeds fails the test. */
async function failure<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error('expected the call to fail');
}

describe('local SageMaker endpoint', () => {
  const script = scriptedBackend();
  const unexpected = vi.fn();
  let endpoint: LocalEndpoint;
  let runtime: SageMakerRuntimeClient;

  beforeAll(async () => {
    endpoint = await startLocalEndpoint({
      port: 0,
      backends: { chat: script.api },
      maxBodyBytes: 1024,
      onUnexpectedError: unexpected,
    });
    // One attempt: the SDK would otherwise retry throttling and 5xx, hiding what was sent.
    runtime = new SageMakerRuntimeClient({
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    runtime.destroy();
    await endpoint.close();
  });
  beforeEach(() => {
    script.backend.calls.length = 0;
    unexpected.mockClear();
  });

  const invoke = (body = '{"inputs":"hi"}', extra: Partial<{ TargetVariant: string }> = {}) =>
    runtime.send(
      new InvokeEndpointCommand({
        EndpointName: 'chat',
        Body: bytes(body),
        ContentType: 'application/json',
        CustomAttributes: 'trace=1',
        ...extra,
      }),
    );

  const stream = async (abortSignal?: AbortSignal) => {
    const response = await runtime.send(
      new InvokeEndpointWithResponseStreamCommand({
        EndpointName: 'chat',
        Body: bytes('{}'),
        ContentType: 'application/json',
      }),
      { abortSignal },
    );
    if (response.Body === undefined) throw new Error('no body');
    return { response, events: response.Body };
  };

  it('listens on the port it was given, or a free one for port 0', () => {
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoint.url).not.toMatch(/:0$/);
  });

  it('round-trips InvokeEndpoint through the real SDK client', async () => {
    script.backend.invoke = async (input) => ({
      body: bytes(`echo:${decoder.decode(input.body)}`),
      contentType: 'text/plain',
      invokedVariant: 'green',
    });
    const response = await invoke('{"inputs":"hi"}', { TargetVariant: 'green' });

    expect(decoder.decode(response.Body)).toBe('echo:{"inputs":"hi"}');
    expect(response.ContentType).toBe('text/plain');
    expect(response.InvokedProductionVariant).toBe('green');
    const [call] = script.backend.calls;
    expect(call).toMatchObject({
      endpoint: 'chat',
      variant: 'green',
      contentType: 'application/json',
      customAttributes: 'trace=1',
    });
  });

  it('passes the inference component to the backend and records whom each call addressed', async () => {
    script.backend.invoke = async () => ({ body: bytes('{}') });
    await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: 'chat',
        Body: bytes('{}'),
        InferenceComponentName: 'ic-chat-1',
      }),
    );
    const response = await runtime.send(
      new InvokeEndpointWithResponseStreamCommand({
        EndpointName: 'chat',
        Body: bytes('{}'),
        InferenceComponentName: 'ic-chat-2',
        TargetVariant: 'blue',
      }),
    );
    for await (const _ of response.Body ?? []) void _;

    expect(script.backend.calls.map((call) => call.inferenceComponent)).toEqual([
      'ic-chat-1',
      'ic-chat-2',
    ]);
    expect(endpoint.invocations.slice(-2)).toEqual([
      { endpoint: 'chat', variant: undefined, inferenceComponent: 'ic-chat-1' },
      { endpoint: 'chat', variant: 'blue', inferenceComponent: 'ic-chat-2' },
    ]);
  });

  it('answers an unknown endpoint with ValidationError', async () => {
    const error = await failure<SageMakerRuntimeServiceException>(
      runtime.send(new InvokeEndpointCommand({ EndpointName: 'nope', Body: bytes('{}') })),
    );
    expect(error).toMatchObject({ name: 'ValidationError', $metadata: { httpStatusCode: 400 } });
    expect(script.backend.calls).toHaveLength(0);
  });

  it('rejects a body over the limit with ValidationError (413)', async () => {
    const error = await failure(invoke('x'.repeat(2048)));
    expect(error).toMatchObject({ name: 'ValidationError', $metadata: { httpStatusCode: 413 } });
  });

  it('renders a model fault as ModelError (424) carrying the container status', async () => {
    script.backend.invoke = async () => {
      throw new EndpointFault('model', 'CUDA out of memory', 503);
    };
    const error = await failure(invoke());
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({
      OriginalStatusCode: 503,
      OriginalMessage: 'CUDA out of memory',
      $metadata: { httpStatusCode: 424 },
    });
  });

  it.each([
    ['throttling', 'ThrottlingException', 400],
    ['validation', 'ValidationError', 400],
    ['unavailable', 'ServiceUnavailable', 503],
    ['not-ready', 'ModelNotReadyException', 429],
    ['internal', 'InternalFailure', 500],
  ] as const)('renders a %s fault as %s (%i)', async (kind, name, status) => {
    script.backend.invoke = async () => {
      throw new EndpointFault(kind, `${kind} happened`);
    };
    const error = await failure(invoke());
    expect(error).toMatchObject({
      name,
      message: `${kind} happened`,
      $metadata: { httpStatusCode: status },
    });
  });

  it('hides a non-fault backend error behind InternalFailure and reports it', async () => {
    script.backend.invoke = async () => {
      throw new TypeError('secret stack detail');
    };
    const error = await failure(invoke());
    expect(error).toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
    expect(error.message).not.toContain('secret');
    expect(unexpected).toHaveBeenCalledOnce();
  });

  it('aborts the backend signal when the caller aborts InvokeEndpoint', async () => {
    let seen: Promise<void> | undefined;
    script.backend.invoke = async (input) => {
      seen = aborted(input.signal);
      await seen;
      throw new EndpointFault('internal', 'aborted');
    };
    const controller = new AbortController();
    const pending = failure(
      runtime.send(new InvokeEndpointCommand({ EndpointName: 'chat', Body: bytes('{}') }), {
        abortSignal: controller.signal,
      }),
    );
    await vi.waitFor(() => expect(seen).toBeDefined());
    controller.abort();
    expect((await pending).name).toBe('AbortError');
    await expect(seen).resolves.toBeUndefined();
  });

  it('streams each yielded chunk as one PayloadPart, before the backend yields the next', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    script.backend.stream = async function* () {
      yield bytes('data:{"token":{"te');
      await gate; // the test only opens this after it has the first part
      yield bytes('xt":"hi"}}\n\n');
    };
    const { response, events } = await stream();
    expect(response.InvokedProductionVariant).toBe('AllTraffic');

    const parts: string[] = [];
    for await (const event of events) {
      parts.push(decoder.decode(event.PayloadPart?.Bytes));
      if (parts.length === 1) release();
    }
    // A JSON line split across parts arrives split, exactly as yielded.
    expect(parts).toEqual(['data:{"token":{"te', 'xt":"hi"}}\n\n']);
  });

  it('takes the stream content type and variant from the returned stream', async () => {
    script.backend.stream = async function* () {
      yield bytes('x');
    } as never;
    const original = script.api.invokeStream;
    script.api.invokeStream = (input) =>
      Object.assign(original(input), {
        contentType: 'text/event-stream',
        invokedVariant: 'canary',
      });
    try {
      const { response, events } = await stream();
      for await (const _ of events) void _;
      expect(response.ContentType).toBe('text/event-stream');
      expect(response.InvokedProductionVariant).toBe('canary');
    } finally {
      script.api.invokeStream = original;
    }
  });

  it('answers a fault before the first part as an HTTP error', async () => {
    script.backend.stream = async function* () {
      throw new EndpointFault('model', 'bad input', 400);
    };
    const error = await failure(stream());
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ OriginalStatusCode: 400 });
  });

  it.each([
    ['model', ModelStreamError, { ErrorCode: 'StreamBroken' }],
    ['internal', InternalStreamFailure, {}],
    ['unavailable', InternalStreamFailure, {}],
  ] as const)('ends a stream broken by a %s fault with %o', async (kind, ErrorClass, fields) => {
    script.backend.stream = async function* () {
      yield bytes('first');
      throw new EndpointFault(kind, 'broke mid-way', 500);
    };
    const { events } = await stream();
    const parts: string[] = [];
    const error = await (async () => {
      for await (const event of events) parts.push(decoder.decode(event.PayloadPart?.Bytes));
    })().catch((e: unknown) => e);
    expect(parts).toEqual(['first']);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({ message: 'broke mid-way', ...fields });
  });

  it('aborts the backend signal when the caller drops a stream', async () => {
    let signal: AbortSignal | undefined;
    script.backend.stream = async function* (input) {
      signal = input.signal;
      yield bytes('first');
      await aborted(input.signal);
    };
    const controller = new AbortController();
    const { events } = await stream(controller.signal);
    const consumed = (async () => {
      for await (const _ of events) controller.abort();
    })().catch((e: unknown) => e);
    await consumed;
    await vi.waitFor(() => expect(signal?.aborted).toBe(true));
  });

  describe('DescribeEndpoint through @aws-sdk/client-sagemaker', () => {
    const control = () =>
      new SageMakerClient({
        endpoint: endpoint.url,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });

    it('reports a known endpoint InService with its variants', async () => {
      const client = control();
      const out = await client.send(new DescribeEndpointCommand({ EndpointName: 'chat' }));
      client.destroy();
      expect(out).toMatchObject({
        EndpointName: 'chat',
        EndpointStatus: 'InService',
        ProductionVariants: [{ VariantName: 'blue', CurrentInstanceCount: 2 }],
      });
      expect(out.CreationTime).toBeInstanceOf(Date);
    });

    it('answers an unknown endpoint with ValidationException', async () => {
      const client = control();
      const error = await failure<SageMakerServiceException>(
        client.send(new DescribeEndpointCommand({ EndpointName: 'missing' })),
      );
      client.destroy();
      expect(error).toMatchObject({
        name: 'ValidationException',
        $metadata: { httpStatusCode: 400 },
      });
      expect(error.message).toContain('Could not find endpoint');
    });
  });
});

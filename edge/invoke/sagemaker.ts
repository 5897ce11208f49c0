import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  SageMakerRuntimeClient,
  type InvokeEndpointCommandOutput,
  type InvokeEndpointWithResponseStreamCommandOutput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-sagemaker-runtime';
import type { FinalizeHandler, FinalizeHandlerArguments } from '@smithy/types';
import {
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { UpstreamError } from '../../shared/errors.js';
import { mapUpstreamError } from './map-error.js';
import { ClientClosedError } from '../../shared/errors.js';
import type { InvokeOptions, InvokeTarget, ModelInvoker } from './invoker.js';
import { LineAssembler, parsePayloadLine } from './json-lines.js';

export interface SageMakerInvokerOptions {
  /** @default 'us-east-1' */
  region?: string;
  /** SageMaker Runtime URL override (the local endpoint); the control plane uses it too. */
  endpointUrl?: string;
  /** Sockets kept alive to SageMaker Runtime. @default 256 */
  maxSockets?: number;
  /**
   * Static credentials; only the local stack sets them (placeholders the local endpoint
   * accepts). @default the SDK's default provider chain (the Lambda role in AWS)
   */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Injected clients; created from the options above when absent. */
  runtime?: SageMakerRuntimeClient;
  control?: SageMakerClient;
}

/**
 * Invokes SageMaker real-time endpoints with the AWS SDK v3.
 *
 * The client is built once per process with keep-alive sockets, without the optional
 * request/response checksum work (payloads are JSON over TLS, so the SDK adds no per-call
 * hashing beyond SigV4 itself) and without the per-call middleware listed below.
 */
export class SageMakerInvoker implements ModelInvoker {
  private readonly runtime: SageMakerRuntimeClient;
  /** Our own client resolves its middleware once per command; the abort signal rides along. */
  private readonly cachedHandlers: boolean;
  private readonly control: SageMakerClient;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(options: SageMakerInvokerOptions = {}) {
    const region = options.region ?? 'us-east-1';
    const shared = {
      region,
      ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED' as const,
      responseChecksumValidation: 'WHEN_REQUIRED' as const,
      // Retries are the caller's decision: a retried LLM call can double GPU cost and latency.
      maxAttempts: 1,
    };
    const maxSockets = options.maxSockets ?? 256;
    this.cachedHandlers = options.runtime === undefined;
    this.runtime = options.runtime ?? leanRuntimeClient(shared, maxSockets);
    this.control = options.control ?? new SageMakerClient({ ...shared, maxAttempts: 2 });
  }

  async invoke(options: InvokeOptions): Promise<unknown> {
    const { signal, cleanup, timedOut } = deadline(options.signal, options.timeoutMs);
    try {
      const out = await this.send(
        new InvokeEndpointCommand({
          EndpointName: options.target.endpoint,
          TargetVariant: options.target.variant,
          InferenceComponentName: options.target.inferenceComponent,
          ContentType: 'application/json',
          Accept: 'application/json',
          Body: this.encoder.encode(JSON.stringify(options.body)),
        }),
        signal,
      );
      const text = this.decoder.decode(out.Body);
      try {
        return JSON.parse(text);
      } catch (cause) {
        throw new UpstreamError(`Model '${options.modelId}' returned a body that is not JSON.`, {
          code: 'bad_upstream_response',
          cause,
        });
      }
    } catch (err) {
      throw translate(err, options, timedOut());
    } finally {
      cleanup();
    }
  }

  async *invokeStream(options: InvokeOptions): AsyncIterable<unknown> {
    const { signal, cleanup, timedOut } = deadline(options.signal, options.timeoutMs);
    try {
      const out = await this.send(
        new InvokeEndpointWithResponseStreamCommand({
          EndpointName: options.target.endpoint,
          TargetVariant: options.target.variant,
          InferenceComponentName: options.target.inferenceComponent,
          ContentType: 'application/json',
          Accept: options.accept ?? 'application/jsonlines',
          Body: this.encoder.encode(JSON.stringify(options.body)),
        }),
        signal,
      );
      if (!out.Body)
        throw new UpstreamError(`Model '${options.modelId}' returned no stream.`, {
          code: 'bad_upstream_response',
        });
      const lines = new LineAssembler();
      for await (const event of out.Body) {
        if (event.ModelStreamError)
          throw Object.assign(new Error(event.ModelStreamError.Message ?? ''), {
            name: 'ModelStreamError',
          });
        if (event.InternalStreamFailure)
          throw Object.assign(new Error(event.InternalStreamFailure.Message ?? ''), {
            name: 'InternalStreamFailure',
          });
        const bytes = event.PayloadPart?.Bytes;
        if (!bytes) continue;
        for (const line of lines.push(bytes)) {
          const value = parseLine(line, options.modelId);
          if (value !== undefined) yield value;
        }
      }
      for (const line of lines.end()) {
        const value = parseLine(line, options.modelId);
        if (value !== undefined) yield value;
      }
    } catch (err) {
      throw translate(err, options, timedOut());
    } finally {
      cleanup();
    }
  }

  private send<C extends InvokeEndpointCommand | InvokeEndpointWithResponseStreamCommand>(
    command: C,
    signal: AbortSignal,
  ): Promise<C extends InvokeEndpointCommand ? InvokeOut : InvokeStreamOut> {
    const runtime = this.runtime as {
      send(c: C, o?: { abortSignal: AbortSignal }): Promise<unknown>;
    };
    if (!this.cachedHandlers) return runtime.send(command, { abortSignal: signal }) as never;
    // Without per-call options the client reuses the middleware it resolved for this command.
    inputSignals.set(command.input, signal);
    return runtime.send(command) as never;
  }

  async checkReady(target: InvokeTarget, timeoutMs: number): Promise<void> {
    const abortSignal = AbortSignal.timeout(timeoutMs);
    const endpoint = await this.control.send(
      new DescribeEndpointCommand({ EndpointName: target.endpoint }),
      { abortSignal },
    );
    if (endpoint.EndpointStatus !== 'InService')
      throw new Error(`endpoint status ${endpoint.EndpointStatus ?? 'unknown'}`);
    if (!target.inferenceComponent) return;
    const component = await this.control.send(
      new DescribeInferenceComponentCommand({ InferenceComponentName: target.inferenceComponent }),
      { abortSignal },
    );
    if (component.EndpointName !== target.endpoint)
      throw new Error(`inference component is on endpoint ${component.EndpointName ?? 'unknown'}`);
    if (component.InferenceComponentStatus !== 'InService')
      throw new Error(
        `inference component status ${component.InferenceComponentStatus ?? 'unknown'}`,
      );
    // A component scaled to zero copies is in service: its next request brings a copy back.
  }
}

/**
 * Per-call middleware the hot path can do without (with `cacheMiddleware`, the saving shows in
 * the SDK rows of `npm run bench`): the user-agent string is rebuilt on every call; the logger
 * middleware has no logger to feed; recursion detection copies Lambda's process-wide trace id,
 * which is wrong for a process serving many requests at once (Lambda Managed Instances).
 */
const OPTIONAL_MIDDLEWARE = [
  'getUserAgentMiddleware',
  'loggerMiddleware',
  'recursionDetectionMiddleware',
] as const;

type InvokeOut = InvokeEndpointCommandOutput;
type InvokeStreamOut = InvokeEndpointWithResponseStreamCommandOutput;

/**
 * The caller's abort signal, carried from the command input to the signed request and on to the
 * HTTP handler, because a client that caches its middleware (`cacheMiddleware`) takes no per-call
 * options. Weak maps: nothing outlives the call.
 */
const inputSignals = new WeakMap<object, AbortSignal>();
const requestSignals = new WeakMap<object, AbortSignal>();

class SignalledHttpHandler extends NodeHttpHandler {
  override handle(...[request, options]: Parameters<NodeHttpHandler['handle']>) {
    const abortSignal = requestSignals.get(request);
    return super.handle(request, abortSignal ? { ...options, abortSignal } : options);
  }
}

const leanRuntimeClient = (
  config: ConstructorParameters<typeof SageMakerRuntimeClient>[0],
  maxSockets: number,
): SageMakerRuntimeClient => {
  const client = new SageMakerRuntimeClient({
    ...config,
    // Resolving the middleware stack on every call is a large share of the SDK's CPU per call.
    cacheMiddleware: true,
    requestHandler: new SignalledHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new Agent({ keepAlive: true, maxSockets }),
    }),
  });
  for (const name of OPTIONAL_MIDDLEWARE) client.middlewareStack.remove(name);
  client.middlewareStack.addRelativeTo(
    (next: FinalizeHandler<ServiceInputTypes, ServiceOutputTypes>) =>
      (args: FinalizeHandlerArguments<ServiceInputTypes>) => {
        const signal = inputSignals.get(args.input);
        if (signal) requestSignals.set(args.request as object, signal);
        return next(args);
      },
    { name: 'sluiceAbortSignal', relation: 'after', toMiddleware: 'httpSigningMiddleware' },
  );
  return client;
};

const parseLine = (line: string, modelId: string): unknown => {
  try {
    return parsePayloadLine(line);
  } catch (cause) {
    throw new UpstreamError(`Model '${modelId}' streamed a line that is not JSON.`, {
      code: 'bad_upstream_response',
      cause,
    });
  }
};

/** Combines the caller's signal with the upstream deadline, remembering which one fired. */
const deadline = (callerSignal: AbortSignal, timeoutMs: number) => {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new Error('upstream timeout'));
  }, timeoutMs);
  const onAbort = () => controller.abort(callerSignal.reason);
  if (callerSignal.aborted) onAbort();
  else callerSignal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => expired,
    cleanup: () => {
      clearTimeout(timer);
      callerSignal.removeEventListener('abort', onAbort);
    },
  };
};

const translate = (err: unknown, options: InvokeOptions, timedOut: boolean) => {
  if (timedOut)
    return mapUpstreamError(
      Object.assign(new Error('timeout'), { name: 'TimeoutError', cause: err }),
      options.modelId,
    );
  if (options.signal.aborted) return new ClientClosedError();
  return mapUpstreamError(err, options.modelId);
};

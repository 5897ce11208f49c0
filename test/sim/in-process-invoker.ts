import { EndpointFault, type EndpointBackend } from '../../local/endpoint/backend.js';
import { LineAssembler, parsePayloadLine } from '../../edge/invoke/json-lines.js';
import type { InvokeOptions, ModelInvoker } from '../../edge/invoke/invoker.js';
import { mapUpstreamError } from '../../edge/invoke/map-error.js';
import { ClientClosedError } from '../../shared/errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The SDK exception SageMaker Runtime would raise for a fault, for the real error mapper. */
const asSdkError = (error: unknown): unknown => {
  if (!(error instanceof EndpointFault)) return error;
  const name = {
    model: 'ModelError',
    throttling: 'ThrottlingException',
    validation: 'ValidationError',
    unavailable: 'ServiceUnavailable',
    'not-ready': 'ModelNotReadyException',
    internal: 'InternalFailure',
  }[error.kind];
  return Object.assign(new Error(error.message), {
    name,
    OriginalStatusCode: error.originalStatus,
  });
};

/**
 * Calls a backend in process, without HTTP or the SDK, so that property tests can push
 * thousands of requests through the service quickly. Errors go through the real mapper.
 */
export const inProcessInvoker = (backends: Record<string, EndpointBackend>): ModelInvoker => {
  // The upstream deadline, as the SDK invoker enforces it: a hung backend must not hang callers.
  const input = (o: InvokeOptions) => ({
    endpoint: o.target.endpoint,
    variant: o.target.variant,
    inferenceComponent: o.target.inferenceComponent,
    contentType: 'application/json',
    customAttributes: undefined,
    body: encoder.encode(JSON.stringify(o.body)),
    signal: AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]),
  });
  const backend = (o: InvokeOptions) => {
    const b = backends[o.target.endpoint];
    if (!b) throw new EndpointFault('validation', `no endpoint ${o.target.endpoint}`);
    return b;
  };
  const fail = (error: unknown, o: InvokeOptions, signal: AbortSignal) => {
    if (o.signal.aborted) return new ClientClosedError();
    if (signal.aborted) return mapUpstreamError({ name: 'TimeoutError' }, o.modelId);
    return mapUpstreamError(asSdkError(error), o.modelId);
  };
  return {
    async invoke(o) {
      const call = input(o);
      try {
        const out = await backend(o).invoke(call);
        return JSON.parse(decoder.decode(out.body));
      } catch (error) {
        throw fail(error, o, call.signal);
      }
    },
    async *invokeStream(o) {
      const call = input(o);
      try {
        const lines = new LineAssembler();
        for await (const chunk of backend(o).invokeStream(call)) {
          for (const line of lines.push(chunk)) {
            const value = parsePayloadLine(line);
            if (value !== undefined) yield value;
          }
        }
        if (call.signal.aborted) throw new Error('stream cut');
      } catch (error) {
        throw fail(error, o, call.signal);
      }
    },
    async checkReady() {},
  };
};

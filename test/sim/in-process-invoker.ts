import { EndpointFault, type EndpointBackend } from '../../local/endpoint/backend.js';
import { LineAssembler, parsePayloadLine } from '../../edge/invoke/json-lines.js';
import type { InvokeOptions, ModelInvoker } from '../../edge/invoke/invoker.js';
import { ClientClosedError, mapUpstreamError } from '../../edge/invoke/map-error.js';

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
  const input = (o: InvokeOptions) => ({
    endpoint: o.target.endpoint,
    variant: o.target.variant,
    contentType: 'application/json',
    customAttributes: undefined,
    body: encoder.encode(JSON.stringify(o.body)),
    signal: o.signal,
  });
  const backend = (o: InvokeOptions) => {
    const b = backends[o.target.endpoint];
    if (!b) throw new EndpointFault('validation', `no endpoint ${o.target.endpoint}`);
    return b;
  };
  const fail = (error: unknown, o: InvokeOptions) =>
    o.signal.aborted ? new ClientClosedError() : mapUpstreamError(asSdkError(error), o.modelId);
  return {
    async invoke(o) {
      try {
        const out = await backend(o).invoke(input(o));
        return JSON.parse(decoder.decode(out.body));
      } catch (error) {
        throw fail(error, o);
      }
    },
    async *invokeStream(o) {
      try {
        const lines = new LineAssembler();
        for await (const chunk of backend(o).invokeStream(input(o))) {
          for (const line of lines.push(chunk)) {
            const value = parsePayloadLine(line);
            if (value !== undefined) yield value;
          }
        }
      } catch (error) {
        throw fail(error, o);
      }
    },
    async checkReady() {},
  };
};

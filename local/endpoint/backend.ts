/**
 * What sits behind the local SageMaker-compatible endpoint: a CPU model in local mode, the
 * GPU simulator in tests and benchmarks. The server owns the SageMaker Runtime wire format
 * (routes, headers, error shapes, event-stream framing); a backend sees only bytes in and out.
 */

export interface InvocationInput {
  /** `EndpointName` from the URL path. */
  endpoint: string;
  /** `X-Amzn-SageMaker-Target-Variant`, when the caller pinned one. */
  variant: string | undefined;
  contentType: string;
  /** `X-Amzn-SageMaker-Custom-Attributes`, passed through untouched. */
  customAttributes: string | undefined;
  body: Uint8Array;
  /** Aborted when the caller disconnects. */
  signal: AbortSignal;
}

export interface InvocationOutput {
  body: Uint8Array;
  /** @default 'application/json' */
  contentType?: string;
  /** The variant that served the call (`x-Amzn-Invoked-Production-Variant`). */
  invokedVariant?: string;
}

/**
 * A failure the server renders as SageMaker Runtime would. Throw it from a backend.
 * - `model`: the container answered non-2xx → `ModelError` (HTTP 424) carrying `originalStatus`.
 * - `throttling`: `ThrottlingException` (HTTP 400).
 * - `validation`: `ValidationError` (HTTP 400), e.g. an unknown endpoint.
 * - `unavailable`: `ServiceUnavailable` (HTTP 503).
 * - `not-ready`: `ModelNotReadyException` (HTTP 429).
 * - `internal`: `InternalFailure` (HTTP 500).
 * Thrown from inside a stream after the first part: `model` becomes a `ModelStreamError`
 * event, anything else an `InternalStreamFailure` event.
 */
export class EndpointFault extends Error {
  constructor(
    readonly kind: 'model' | 'throttling' | 'validation' | 'unavailable' | 'not-ready' | 'internal',
    message: string,
    readonly originalStatus?: number,
  ) {
    super(message);
    this.name = 'EndpointFault';
  }
}

export interface EndpointBackend {
  /** `InvokeEndpoint`. */
  invoke(input: InvocationInput): Promise<InvocationOutput>;
  /** `InvokeEndpointWithResponseStream`: each chunk becomes one `PayloadPart` event. */
  invokeStream(input: InvocationInput): AsyncIterable<Uint8Array>;
}

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
  /** `X-Amzn-SageMaker-Inference-Component` (the SDK's `InferenceComponentName`), when given. */
  inferenceComponent: string | undefined;
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

/**
 * What `invokeStream` may return instead of a bare iterable, to set the response headers. The
 * server reads these after the first chunk arrives (headers leave with it), so a backend may
 * set them lazily, e.g. once it has picked a variant.
 */
export interface InvocationStream extends AsyncIterable<Uint8Array> {
  /** `X-Amzn-SageMaker-Content-Type`. @default 'application/octet-stream' */
  contentType?: string;
  /** `x-Amzn-Invoked-Production-Variant`. @default the pinned variant, else 'AllTraffic' */
  invokedVariant?: string;
}

/** What `DescribeEndpoint` reports for one endpoint (the local control plane). */
export interface EndpointDescription {
  /** @default 'InService' */
  status?:
    | 'OutOfService'
    | 'Creating'
    | 'Updating'
    | 'SystemUpdating'
    | 'RollingBack'
    | 'InService'
    | 'Deleting'
    | 'Failed'
    | 'UpdateRollbackFailed';
  /** @default one variant 'AllTraffic', weight 1, one instance */
  variants?: Array<{ name: string; weight: number; instanceCount: number }>;
  failureReason?: string;
}

export interface EndpointBackend {
  /** `InvokeEndpoint`. */
  invoke(input: InvocationInput): Promise<InvocationOutput>;
  /**
   * `InvokeEndpointWithResponseStream`: each chunk becomes one `PayloadPart` event. A fault thrown
   * before the first chunk becomes an HTTP error; after it, an exception event.
   */
  invokeStream(input: InvocationInput): AsyncIterable<Uint8Array> | InvocationStream;
  /** `DescribeEndpoint`; optional, an endpoint without it is reported `InService`. */
  describe?(): EndpointDescription | Promise<EndpointDescription>;
}

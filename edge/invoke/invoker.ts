/** Where one invocation goes: a SageMaker endpoint, optionally pinned to a variant. */
export interface InvokeTarget {
  endpoint: string;
  variant: string | undefined;
}

export interface InvokeOptions {
  target: InvokeTarget;
  /** JSON-serialisable request body in the container's schema. */
  body: unknown;
  /** Aborted when every caller waiting on this call has gone. */
  signal: AbortSignal;
  /** Upstream deadline for this call. */
  timeoutMs: number;
  /** Public model id, for error messages. */
  modelId: string;
}

/**
 * Calls model containers. The SageMaker implementation is `SageMakerInvoker`; tests may
 * substitute their own. Failures are `GatewayError`s (see `mapUpstreamError`).
 */
export interface ModelInvoker {
  /** One request, one JSON answer. */
  invoke(options: InvokeOptions): Promise<unknown>;
  /** A streamed answer: one parsed JSON object per line the container wrote. */
  invokeStream(options: InvokeOptions): AsyncIterable<unknown>;
  /** Resolves when the endpoint is in service; rejects (with the reason) otherwise. */
  checkReady(endpoint: string, timeoutMs: number): Promise<void>;
}

/**
 * Where one invocation goes: a SageMaker endpoint, optionally pinned to a variant, or an inference
 * component on a shared endpoint.
 */
export interface InvokeTarget {
  endpoint: string;
  variant: string | undefined;
  /** `InferenceComponentName`; absent for models deployed as endpoint variants. */
  inferenceComponent?: string | undefined;
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
  /** `Accept` of a streamed call (the codec's). @default 'application/jsonlines' */
  accept?: string;
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
  /**
   * Resolves when the target is in service (the endpoint, and the inference component when the
   * target names one); rejects with the reason otherwise.
   */
  checkReady(target: InvokeTarget, timeoutMs: number): Promise<void>;
}

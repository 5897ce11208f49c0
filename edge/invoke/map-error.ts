import {
  ClientClosedError,
  GatewayError,
  GatewayTimeoutError,
  InvalidRequestError,
  RateLimitError,
  ServiceUnavailableError,
  UpstreamError,
} from '../../shared/errors.js';

/** What we know of an upstream failure; read off SDK exceptions and Node network errors. */
interface UpstreamFailure {
  name?: string;
  code?: string;
  message?: string;
  OriginalStatusCode?: number;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  $response?: { headers?: Record<string, string | undefined> };
}

/**
 * What a mapped upstream error's `details` may say about the connection, for the retry policy:
 * `reset` (the socket was cut) or `refused` (nothing listened). Facts, logged with the error.
 */
export type ConnectionFailure = 'reset' | 'refused';

/** Seconds we ask a throttled or not-ready caller to wait. */
export const UPSTREAM_RETRY_AFTER_S = 2;

/**
 * Maps any failure of a SageMaker Runtime call to the gateway's error. Pure; the table in
 * `test/edge/invoke/map-error.test.ts` pins every row. Messages name the model and never
 * carry the upstream message, which may contain an ARN, a log stream or a prompt fragment;
 * that goes to `details` for the log.
 */
export const mapUpstreamError = (err: unknown, modelId: string): GatewayError => {
  if (err instanceof GatewayError) return err;
  const e = (
    typeof err === 'object' && err !== null ? err : { message: String(err) }
  ) as UpstreamFailure;
  // The container's own message can quote the prompt: the log gets its name and status only
  // (the container's log stream in CloudWatch has the rest).
  const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
  const details = {
    upstream: e.name ?? e.code,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(e.OriginalStatusCode !== undefined ? { originalStatus: e.OriginalStatusCode } : {}),
    ...(e.$metadata?.httpStatusCode !== undefined
      ? { httpStatus: e.$metadata.httpStatusCode }
      : {}),
  };
  const opts = { details, cause: err, origin: 'upstream' as const };
  // The SDK's HTTP handler reports a reset socket as a `TimeoutError` carrying the socket's
  // code: the code is the truer account of what happened.
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
    return new UpstreamError(`The connection to model '${modelId}' was reset.`, {
      ...opts,
      details: { ...details, connection: 'reset' satisfies ConnectionFailure },
      code: 'upstream_connection_reset',
    });
  }
  switch (e.name) {
    case 'ModelError': {
      const original = e.OriginalStatusCode;
      if (original === 429) {
        return new RateLimitError(
          `Model '${modelId}' is overloaded; retry later.`,
          UPSTREAM_RETRY_AFTER_S,
          { ...opts, code: 'model_overloaded' },
        );
      }
      if (original === 400 || original === 413 || original === 422) {
        return new InvalidRequestError(
          `Model '${modelId}' rejected the request (status ${original}).`,
          { ...opts, code: 'model_rejected_input' },
        );
      }
      return new UpstreamError(`Model '${modelId}' failed (status ${original ?? 'unknown'}).`, {
        ...opts,
        code: 'model_error',
      });
    }
    case 'ThrottlingException':
    case 'TooManyRequestsException':
      return new RateLimitError(
        `Model '${modelId}' is throttled; retry later.`,
        UPSTREAM_RETRY_AFTER_S,
        { ...opts, code: 'upstream_throttled' },
      );
    case 'ModelNotReadyException':
      return new ServiceUnavailableError(
        `Model '${modelId}' is not ready; retry later.`,
        UPSTREAM_RETRY_AFTER_S,
        { ...opts, code: 'model_not_ready' },
      );
    case 'ServiceUnavailable':
      return new ServiceUnavailableError(
        `Model '${modelId}' is unavailable; retry later.`,
        UPSTREAM_RETRY_AFTER_S,
        { ...opts, code: 'upstream_unavailable' },
      );
    case 'ValidationError':
    case 'ValidationException':
      // Client input is validated before it leaves the gateway, so this is our configuration
      // (an unknown endpoint or variant) or a container limit: not the caller's fault.
      return new UpstreamError(
        `Model '${modelId}' could not be invoked (upstream validation failed).`,
        { ...opts, code: 'upstream_validation_error' },
      );
    case 'ModelStreamError':
      return new UpstreamError(`Model '${modelId}' failed while streaming.`, {
        ...opts,
        code: 'model_stream_error',
      });
    case 'InternalStreamFailure':
      return new UpstreamError(`The stream from model '${modelId}' broke.`, {
        ...opts,
        code: 'internal_stream_failure',
      });
    case 'InternalFailure':
    case 'InternalDependencyException':
      return new UpstreamError(`Model '${modelId}' failed upstream.`, {
        ...opts,
        code: 'upstream_internal_error',
      });
    case 'TimeoutError':
    case 'RequestTimeout':
      return new GatewayTimeoutError(`Model '${modelId}' did not answer in time.`, {
        ...opts,
        code: 'upstream_timeout',
      });
    case 'AbortError':
      return new ClientClosedError();
  }
  switch (e.code) {
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new GatewayTimeoutError(`Model '${modelId}' did not answer in time.`, {
        ...opts,
        code: 'upstream_timeout',
      });
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ServiceUnavailableError(
        `Model '${modelId}' cannot be reached; retry later.`,
        UPSTREAM_RETRY_AFTER_S,
        {
          ...opts,
          details: { ...details, connection: 'refused' satisfies ConnectionFailure },
          code: 'upstream_unreachable',
        },
      );
  }
  if (e.$retryable?.throttling) {
    return new RateLimitError(
      `Model '${modelId}' is throttled; retry later.`,
      UPSTREAM_RETRY_AFTER_S,
      { ...opts, code: 'upstream_throttled' },
    );
  }
  const status = e.$metadata?.httpStatusCode;
  if (status === 503) {
    return new ServiceUnavailableError(
      `Model '${modelId}' is unavailable; retry later.`,
      UPSTREAM_RETRY_AFTER_S,
      { ...opts, code: 'upstream_unavailable' },
    );
  }
  return new UpstreamError(`Model '${modelId}' failed upstream.`, {
    ...opts,
    code: 'upstream_error',
  });
};

/** `Retry-After` in seconds or as an HTTP date, in ms from now; `undefined` when absent or bad. */
const parseRetryAfter = (value: string | undefined): number | undefined => {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
};

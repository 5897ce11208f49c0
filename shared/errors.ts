/**
 * One error hierarchy for the whole gateway. Every failure a caller can see is a
 * `GatewayError`: an HTTP status, a stable machine-readable `code`, and a body in the
 * OpenAI error shape `{"error":{"message","type","param","code"}}`.
 *
 * Messages are written for the caller: they name the model or the field, never a stack trace,
 * an upstream ARN or a secret.
 */

/** The `type` values the OpenAI API uses, so clients that switch on them keep working. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'api_error';

export interface ErrorBody {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: string | null };
}

/**
 * Whose failure it is: the caller's (a bad request, a caller that left), the gateway's own (a
 * full queue, an open circuit, a defect) or the model endpoint's. Circuit breakers and retries
 * read this field, never the `code` string.
 */
export type ErrorOrigin = 'client' | 'gateway' | 'upstream';

export interface GatewayErrorOptions {
  /** @default the class's own origin */
  origin?: ErrorOrigin;
  /** The request field at fault, in dotted form (`messages.0.content`). */
  param?: string;
  /** Extra machine-readable facts, logged but never sent to the caller. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export abstract class GatewayError extends Error {
  abstract readonly status: number;
  abstract readonly type: OpenAIErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly details: Record<string, unknown> | undefined;
  readonly origin: ErrorOrigin;

  constructor(
    code: string,
    message: string,
    options: GatewayErrorOptions & { defaultOrigin: ErrorOrigin },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.origin = options.origin ?? options.defaultOrigin;
    this.param = options.param ?? null;
    this.details = options.details;
  }

  /** Response headers this error requires (`Retry-After`, `WWW-Authenticate`). */
  headers(): Record<string, string> {
    return {};
  }

  toJSON(): ErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/** 400: the request is malformed or a field is out of range. */
export class InvalidRequestError extends GatewayError {
  readonly status: number = 400;
  readonly type = 'invalid_request_error' as const;
  constructor(message: string, options: GatewayErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'invalid_request', message, { ...options, defaultOrigin: 'client' });
  }
}

/** 404: an unknown model or route. */
export class NotFoundError extends GatewayError {
  readonly status = 404;
  readonly type = 'invalid_request_error' as const;
  constructor(message: string, options: GatewayErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'not_found', message, { ...options, defaultOrigin: 'client' });
  }
}

/** 413: the body is larger than the configured limit. */
export class PayloadTooLargeError extends GatewayError {
  readonly status = 413;
  readonly type = 'invalid_request_error' as const;
  constructor(limitBytes: number) {
    super('payload_too_large', `Request body exceeds the limit of ${limitBytes} bytes.`, {
      defaultOrigin: 'client',
    });
  }
}

/** 415: the body is not `application/json`. */
export class UnsupportedMediaTypeError extends GatewayError {
  readonly status = 415;
  readonly type = 'invalid_request_error' as const;
  constructor(message = 'Content-Type must be application/json.') {
    super('unsupported_media_type', message, { defaultOrigin: 'client' });
  }
}

/** 401: no credentials, or credentials that do not verify. */
export class AuthenticationError extends GatewayError {
  readonly status = 401;
  readonly type = 'authentication_error' as const;
  /** `undefined` when no token was sent (RFC 6750 §3.1: no error code then). */
  readonly bearerError: 'invalid_token' | 'invalid_request' | undefined;
  readonly realm: string;
  constructor(
    message: string,
    options: GatewayErrorOptions & {
      bearerError?: 'invalid_token' | 'invalid_request';
      realm?: string;
    } = {},
  ) {
    super(options.bearerError ?? 'missing_token', message, { ...options, defaultOrigin: 'client' });
    this.bearerError = options.bearerError;
    this.realm = options.realm ?? 'sluice';
  }
  override headers(): Record<string, string> {
    const parts = [`realm="${this.realm}"`];
    if (this.bearerError) {
      parts.push(`error="${this.bearerError}"`, `error_description="${quote(this.message)}"`);
    }
    return { 'www-authenticate': `Bearer ${parts.join(', ')}` };
  }
}

/** 403: a valid token without the right (RFC 6750 `insufficient_scope`). */
export class PermissionError extends GatewayError {
  readonly status = 403;
  readonly type = 'permission_error' as const;
  constructor(
    message: string,
    readonly requiredScope?: string,
    options: GatewayErrorOptions = {},
  ) {
    super('insufficient_scope', message, { ...options, defaultOrigin: 'client' });
  }
  override headers(): Record<string, string> {
    const parts = [
      'realm="sluice"',
      'error="insufficient_scope"',
      `error_description="${quote(this.message)}"`,
    ];
    if (this.requiredScope) parts.push(`scope="${quote(this.requiredScope)}"`);
    return { 'www-authenticate': `Bearer ${parts.join(', ')}` };
  }
}

/** 409/412: a concurrent change lost the race (`If-Match` did not match). */
export class PreconditionFailedError extends GatewayError {
  readonly status: number;
  readonly type = 'invalid_request_error' as const;
  constructor(
    message: string,
    options: GatewayErrorOptions & { status?: 409 | 412 | 428; code?: string } = {},
  ) {
    super(options.code ?? 'precondition_failed', message, { ...options, defaultOrigin: 'client' });
    this.status = options.status ?? 412;
  }
}

/** 429: a per-principal limit, a full queue, or upstream throttling. */
export class RateLimitError extends GatewayError {
  readonly status = 429;
  readonly type = 'rate_limit_error' as const;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options: GatewayErrorOptions & { code?: string; extraHeaders?: Record<string, string> } = {},
  ) {
    super(options.code ?? 'rate_limit_exceeded', message, { ...options, defaultOrigin: 'gateway' });
    this.extraHeaders = options.extraHeaders ?? {};
  }
  private readonly extraHeaders: Record<string, string>;
  override headers(): Record<string, string> {
    return {
      'retry-after': String(Math.max(1, Math.ceil(this.retryAfterSeconds))),
      ...this.extraHeaders,
    };
  }
}

/** 502: the model answered, but with an error or an answer we cannot use. */
export class UpstreamError extends GatewayError {
  readonly status = 502;
  readonly type = 'server_error' as const;
  constructor(message: string, options: GatewayErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'upstream_error', message, { ...options, defaultOrigin: 'upstream' });
  }
}

/** 503: the model (or the gateway) cannot take work now; try again later. */
export class ServiceUnavailableError extends GatewayError {
  readonly status = 503;
  readonly type = 'server_error' as const;
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
    options: GatewayErrorOptions & { code?: string } = {},
  ) {
    super(options.code ?? 'service_unavailable', message, { ...options, defaultOrigin: 'gateway' });
  }
  override headers(): Record<string, string> {
    return this.retryAfterSeconds === undefined
      ? {}
      : { 'retry-after': String(Math.max(1, Math.ceil(this.retryAfterSeconds))) };
  }
}

/** 504: the model, or the queue in front of it, did not answer in time. */
export class GatewayTimeoutError extends GatewayError {
  readonly status = 504;
  readonly type = 'server_error' as const;
  constructor(message: string, options: GatewayErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'upstream_timeout', message, { ...options, defaultOrigin: 'gateway' });
  }
}

/** 500: a defect of ours. The message is generic; the cause is logged, never sent. */
export class InternalError extends GatewayError {
  readonly status = 500;
  readonly type = 'server_error' as const;
  constructor(options: GatewayErrorOptions = {}) {
    super('internal_error', 'The gateway failed to process the request.', {
      ...options,
      defaultOrigin: 'gateway',
    });
  }
}

/** 499: the caller went away; nobody is waiting for an answer. Never rendered to a client. */
export class ClientClosedError extends GatewayError {
  readonly status = 499;
  readonly type = 'invalid_request_error' as const;
  constructor() {
    super('client_closed_request', 'The client closed the request.', { defaultOrigin: 'client' });
  }
}

/** Turns anything thrown into a `GatewayError`, hiding what is not one. */
export const toGatewayError = (err: unknown): GatewayError =>
  err instanceof GatewayError ? err : new InternalError({ cause: err });

const quote = (s: string): string => s.replace(/["\\]/g, "'").replace(/[\r\n]/g, ' ');

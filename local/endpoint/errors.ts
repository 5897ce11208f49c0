import { EndpointFault } from './backend.js';
import type { StreamExceptionType } from './event-stream.js';

/** An error as SageMaker Runtime puts it on the wire: status, `x-amzn-errortype`, JSON body. */
export interface WireError {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

/**
 * The restJson1 error for a fault raised before a response started. The SDK picks the exception
 * class from `x-amzn-errortype` and fills its members from the body, so `OriginalStatusCode`
 * must be a JSON number and the message lives in `message`.
 */
export function faultToWireError(fault: EndpointFault, endpoint: string): WireError {
  switch (fault.kind) {
    case 'model': {
      const original = fault.originalStatus ?? 500;
      const side = original < 500 ? 'client' : 'server';
      return {
        status: 424,
        type: 'ModelError',
        body: {
          message: `Received ${side} error (${original}) from primary with message "${fault.message}". See local logs for endpoint ${endpoint}.`,
          ErrorCode: original < 500 ? 'CLIENT_ERROR_FROM_MODEL' : 'SERVER_ERROR_FROM_MODEL',
          OriginalStatusCode: original,
          OriginalMessage: fault.message,
          LogStreamArn: `arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints/${endpoint}`,
        },
      };
    }
    case 'throttling':
      return { status: 400, type: 'ThrottlingException', body: { message: fault.message } };
    case 'validation':
      return { status: 400, type: 'ValidationError', body: { message: fault.message } };
    case 'unavailable':
      return { status: 503, type: 'ServiceUnavailable', body: { message: fault.message } };
    case 'not-ready':
      return { status: 429, type: 'ModelNotReadyException', body: { message: fault.message } };
    case 'internal':
      return { status: 500, type: 'InternalFailure', body: { message: fault.message } };
  }
}

/**
 * Anything a backend throws that is not an `EndpointFault` is a bug in the backend: the caller
 * sees `InternalFailure` without the details, as it would from SageMaker.
 */
export function toEndpointFault(error: unknown): EndpointFault {
  if (error instanceof EndpointFault) return error;
  return new EndpointFault('internal', 'An internal error occurred while invoking the endpoint.');
}

/**
 * The exception event for a fault raised after the first part: a container failure breaks the
 * stream (`ModelStreamError`, code `StreamBroken`), anything else is the platform's own failure.
 */
export function faultToStreamException(fault: EndpointFault): {
  type: StreamExceptionType;
  fields: { Message: string; ErrorCode?: string };
} {
  if (fault.kind === 'model') {
    return {
      type: 'ModelStreamError',
      fields: { Message: fault.message, ErrorCode: 'StreamBroken' },
    };
  }
  return { type: 'InternalStreamFailure', fields: { Message: fault.message } };
}

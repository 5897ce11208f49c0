import { EventStreamCodec, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

/**
 * AWS event-stream framing for `InvokeEndpointWithResponseStream`, encoded with the same codec the
 * SDK decodes with, so a framing mistake here shows up as a decode failure in our own tests.
 */
const codec = new EventStreamCodec(toUtf8, fromUtf8);

const stringHeader = (value: string) => ({ type: 'string', value }) as const;

/** The content type of the HTTP response that carries the event stream. */
export const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

/** One `PayloadPart` event: the SDK hands `body` to the caller as `PayloadPart.Bytes`. */
export function encodePayloadPart(bytes: Uint8Array): Uint8Array {
  const headers: MessageHeaders = {
    ':event-type': stringHeader('PayloadPart'),
    ':message-type': stringHeader('event'),
    ':content-type': stringHeader('application/octet-stream'),
  };
  return codec.encode({ headers, body: bytes });
}

/** The modelled exceptions a response stream can end with. */
export type StreamExceptionType = 'ModelStreamError' | 'InternalStreamFailure';

/**
 * A modelled exception event. The SDK's unmarshaller throws these (`:message-type` `exception`)
 * from the caller's `for await` as `ModelStreamError` / `InternalStreamFailure` instances,
 * reading `Message` (and `ErrorCode`) from the JSON body.
 */
export function encodeStreamException(
  type: StreamExceptionType,
  fields: { Message: string; ErrorCode?: string },
): Uint8Array {
  const headers: MessageHeaders = {
    ':exception-type': stringHeader(type),
    ':message-type': stringHeader('exception'),
    ':content-type': stringHeader('application/json'),
  };
  return codec.encode({ headers, body: fromUtf8(JSON.stringify(fields)) });
}

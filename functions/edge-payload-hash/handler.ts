import { createHash } from 'node:crypto';
import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { PayloadTooLargeError } from '../../shared/errors.js';

/** The header CloudFront's origin access control signs as the payload hash (SigV4). */
export const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';

/** Methods that carry no body; CloudFront signs them with the empty-payload hash itself. */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Lambda@Edge origin-request handler (association with `includeBody: true`). The gateway's
 * function URL uses IAM auth behind origin access control, and Lambda rejects unsigned
 * payloads: for a request with a body, the SHA-256 of that body must be in
 * `x-amz-content-sha256` before CloudFront signs the origin request. OpenAI clients do not
 * send it, so it is computed here from the body CloudFront exposes (overwriting whatever the
 * viewer sent, which could only make the signature fail).
 *
 * CloudFront exposes at most 1 MB of body to an origin-request function and sets
 * `inputTruncated` when it cut the body; the hash of a cut body cannot match, so such a
 * request is answered here with 413 in the OpenAI error shape instead of a signature error.
 */
export async function handler(
  event: CloudFrontRequestEvent,
): Promise<CloudFrontRequest | CloudFrontResultResponse> {
  const request = event.Records[0]!.cf.request;
  if (BODYLESS.has(request.method)) return request;

  const body = request.body;
  const bytes = Buffer.from(body?.data ?? '', body?.encoding === 'text' ? 'utf8' : 'base64');
  if (body?.inputTruncated) return tooLarge(bytes.length);

  request.headers[PAYLOAD_HASH_HEADER] = [
    { key: PAYLOAD_HASH_HEADER, value: createHash('sha256').update(bytes).digest('hex') },
  ];
  return request;
}

/** 413 with the gateway's own error body; `limit` is how much CloudFront exposed. */
function tooLarge(limit: number): CloudFrontResultResponse {
  const error = new PayloadTooLargeError(limit);
  return {
    status: String(error.status),
    statusDescription: 'Payload Too Large',
    headers: {
      'content-type': [{ key: 'Content-Type', value: 'application/json' }],
      'cache-control': [{ key: 'Cache-Control', value: 'no-store' }],
    },
    body: JSON.stringify(error.toJSON()),
  };
}

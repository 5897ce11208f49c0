import { createHash } from 'node:crypto';
import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handler, PAYLOAD_HASH_HEADER } from '../../../functions/edge-payload-hash/handler.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

type Body = NonNullable<CloudFrontRequest['body']>;

/** An origin-request event as CloudFront sends it with `includeBody` on (Lambda@Edge event structure). */
function originRequest(method: string, body?: Partial<Body>): CloudFrontRequestEvent {
  return {
    Records: [
      {
        cf: {
          config: {
            distributionDomainName: 'd111111abcdef8.cloudfront.net',
            distributionId: 'EDFDVBD6EXAMPLE',
            eventType: 'origin-request',
            requestId: '4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==',
          },
          request: {
            clientIp: '203.0.113.178',
            method,
            uri: '/v1/chat/completions',
            querystring: '',
            headers: {
              host: [{ key: 'Host', value: 'abcdefghij.lambda-url.us-east-1.on.aws' }],
              'content-type': [{ key: 'Content-Type', value: 'application/json' }],
              'x-sluice-authorization': [{ key: 'x-sluice-authorization', value: 'Bearer t' }],
            },
            origin: {
              custom: {
                customHeaders: {},
                domainName: 'abcdefghij.lambda-url.us-east-1.on.aws',
                keepaliveTimeout: 5,
                path: '',
                port: 443,
                protocol: 'https',
                readTimeout: 30,
                sslProtocols: ['TLSv1.2'],
              },
            },
            ...(body === undefined
              ? {}
              : {
                  body: {
                    action: 'read-only',
                    data: '',
                    encoding: 'base64',
                    inputTruncated: false,
                    ...body,
                  } as Body,
                }),
          },
        },
      },
    ],
  };
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hashHeader = (result: CloudFrontRequest | CloudFrontResultResponse): string | undefined =>
  (result as CloudFrontRequest).headers[PAYLOAD_HASH_HEADER]?.[0]?.value;

describe('edge payload hash', () => {
  const json = JSON.stringify({
    model: 'deepseek-r1-distill-llama-8b',
    messages: [{ role: 'user', content: 'Grüß dich 👋' }],
  });

  it('sets x-amz-content-sha256 to the SHA-256 hex of a base64 body', async () => {
    const result = await handler(
      originRequest('POST', { data: Buffer.from(json).toString('base64') }),
    );
    expect(hashHeader(result)).toBe(sha256(Buffer.from(json, 'utf8')));
    expect((result as CloudFrontRequest).headers[PAYLOAD_HASH_HEADER]).toEqual([
      { key: PAYLOAD_HASH_HEADER, value: sha256(json) },
    ]);
  });

  it('hashes a body given with text encoding as its UTF-8 bytes', async () => {
    const result = await handler(originRequest('POST', { data: json, encoding: 'text' }));
    expect(hashHeader(result)).toBe(sha256(json));
  });

  it('hashes binary bodies byte for byte', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0x0a]);
    const result = await handler(originRequest('PUT', { data: bytes.toString('base64') }));
    expect(hashHeader(result)).toBe(sha256(bytes));
  });

  it('sets the empty-payload hash when a POST has an empty body or none', async () => {
    expect(hashHeader(await handler(originRequest('POST', { data: '' })))).toBe(EMPTY_SHA256);
    expect(hashHeader(await handler(originRequest('POST')))).toBe(EMPTY_SHA256);
  });

  it('overwrites a hash the viewer sent', async () => {
    const event = originRequest('POST', { data: Buffer.from(json).toString('base64') });
    event.Records[0]!.cf.request.headers[PAYLOAD_HASH_HEADER] = [
      { key: 'X-Amz-Content-Sha256', value: 'UNSIGNED-PAYLOAD' },
    ];
    const result = (await handler(event)) as CloudFrontRequest;
    expect(result.headers[PAYLOAD_HASH_HEADER]).toEqual([
      { key: PAYLOAD_HASH_HEADER, value: sha256(json) },
    ]);
  });

  it('keeps the other headers and the body as they were', async () => {
    const data = Buffer.from(json).toString('base64');
    const result = (await handler(originRequest('POST', { data }))) as CloudFrontRequest;
    expect(result.headers['x-sluice-authorization']).toEqual([
      { key: 'x-sluice-authorization', value: 'Bearer t' },
    ]);
    expect(result.body).toEqual({
      action: 'read-only',
      data,
      encoding: 'base64',
      inputTruncated: false,
    });
  });

  it('answers 413 in the OpenAI error shape when CloudFront truncated the body', async () => {
    const exposed = Buffer.alloc(1_048_576, 'a');
    const result = (await handler(
      originRequest('POST', { data: exposed.toString('base64'), inputTruncated: true }),
    )) as CloudFrontResultResponse;
    expect(result.status).toBe('413');
    expect(result.headers?.['content-type']).toEqual([
      { key: 'Content-Type', value: 'application/json' },
    ]);
    expect(JSON.parse(result.body!)).toEqual({
      error: {
        message: 'Request body exceeds the limit of 1048576 bytes.',
        type: 'invalid_request_error',
        param: null,
        code: 'payload_too_large',
      },
    });
    expect((result as Partial<CloudFrontRequest>).headers?.[PAYLOAD_HASH_HEADER]).toBeUndefined();
  });

  it('leaves a GET untouched', async () => {
    const event = originRequest('GET', { data: '' });
    const before = structuredClone(event.Records[0]!.cf.request);
    const result = await handler(event);
    expect(result).toEqual(before);
    expect(hashHeader(result)).toBeUndefined();
  });
});

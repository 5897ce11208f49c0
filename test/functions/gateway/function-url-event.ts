import { randomUUID } from 'node:crypto';

export interface FunctionUrlRequest {
  method: string;
  /** Path and query, e.g. `/v1/models?x=1`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const DOMAIN = 'abcdefghij.lambda-url.us-east-1.on.aws';

/** A function URL event (payload format 2.0), as Lambda hands it to the function. */
export function functionUrlEvent(request: FunctionUrlRequest): Record<string, unknown> {
  const [rawPath, rawQueryString = ''] = request.path.split('?') as [string, string?];
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: {
      host: DOMAIN,
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
      'x-forwarded-for': '203.0.113.7',
      'x-amzn-trace-id': `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-000000000000000000000000`,
      ...request.headers,
    },
    requestContext: {
      accountId: '111111111111',
      apiId: DOMAIN.split('.')[0],
      domainName: DOMAIN,
      domainPrefix: DOMAIN.split('.')[0],
      http: {
        method: request.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'sluice-test',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(request.body === undefined ? {} : { body: request.body, isBase64Encoded: false }),
  };
}

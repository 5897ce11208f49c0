import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LambdaFunctionURLEvent } from 'aws-lambda';

/** The part of a Hono app the Lambda entry needs. */
export interface FetchApp {
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
}

/** What the Node.js runtime hands a handler wrapped in `awslambda.streamifyResponse`. */
export type ResponseStream = Writable & { setContentType(type: string): void };

interface HttpPrelude {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
}

/** The globals the Node.js managed runtime (and its Runtime Interface Client) installs. */
export interface AwsLambdaGlobal {
  streamifyResponse<E, C>(
    handler: (event: E, stream: ResponseStream, context: C) => Promise<void>,
  ): (event: E, stream: ResponseStream, context: C) => Promise<void>;
  HttpResponseStream: { from(stream: ResponseStream, prelude: HttpPrelude): ResponseStream };
}

/**
 * A function URL event (payload 2.0) as a Fetch `Request`. `signal` aborts it: the app sees the
 * client go away as it would on a Node server.
 */
export function toRequest(event: LambdaFunctionURLEvent, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(name, value);
  }
  if (event.cookies?.length) headers.set('cookie', event.cookies.join('; '));
  const host = headers.get('host') ?? event.requestContext.domainName;
  const query = event.rawQueryString ? `?${event.rawQueryString}` : '';
  const method = event.requestContext.http.method;
  const hasBody = event.body !== undefined && method !== 'GET' && method !== 'HEAD';
  return new Request(`https://${host}${event.rawPath}${query}`, {
    method,
    headers,
    signal,
    ...(hasBody
      ? { body: event.isBase64Encoded ? Buffer.from(event.body!, 'base64') : event.body! }
      : {}),
  });
}

const preludeOf = (res: Response): HttpPrelude => {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  return { statusCode: res.status, headers, cookies: res.headers.getSetCookie() };
};

/**
 * The streaming function-URL handler: status and headers go out in the HTTP prelude, the body
 * is piped as the app produces it. When the response stream fails or closes before the body is
 * done (the connection to Lambda is gone), the request's signal aborts and the body is
 * cancelled, so the app stops its upstream call instead of generating into nowhere.
 */
export function streamingHandler(app: FetchApp, awslambda: AwsLambdaGlobal) {
  return awslambda.streamifyResponse<LambdaFunctionURLEvent, unknown>(
    async (event, responseStream, context) => {
      const controller = new AbortController();
      let finished = false;
      const gone = (): void => {
        if (!finished) controller.abort(new Error('response stream closed'));
      };
      responseStream.once('error', gone);
      responseStream.once('close', gone);
      try {
        const res = await app.fetch(toRequest(event, controller.signal), {
          event,
          requestContext: event.requestContext,
          lambdaContext: context,
        });
        const out = awslambda.HttpResponseStream.from(responseStream, preludeOf(res));
        if (!res.body) {
          out.end('');
        } else {
          await pipeline(
            Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
            out,
          );
        }
      } catch (error) {
        // The client is gone or the app failed after its headers: the status is already out.
        if (!controller.signal.aborted && !responseStream.writableEnded) {
          console.error(
            JSON.stringify({ level: 'error', msg: 'stream failed', error: String(error) }),
          );
          responseStream.end();
        }
      } finally {
        finished = true;
      }
    },
  );
}

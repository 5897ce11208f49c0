import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.js';
import type { RequestLimiter } from './limiter.js';

/**
 * Applies {@link RequestLimiter} to each request after authentication. The concurrency slot is
 * held until the response is complete: for a stream, until its body ends or the client leaves,
 * not merely until its headers are sent.
 *
 * @example
 * app.use('/v1/*', rateLimit({ limiter: new RequestLimiter(config.limits, clock) }));
 */
export const rateLimit = (options: { limiter: RequestLimiter }): MiddlewareHandler<AppEnv> => {
  const { limiter } = options;
  return async function rateLimit(c, next) {
    const admission = limiter.admit(c.get('principal'));
    try {
      await next();
    } catch (err) {
      admission.release();
      throw err;
    }
    for (const [k, v] of Object.entries(admission.headers)) c.res.headers.set(k, v);
    const body = c.res.body;
    if (!body || !c.res.headers.get('content-type')?.startsWith('text/event-stream')) {
      admission.release();
      return;
    }
    c.res = new Response(releasingOnEnd(body, admission.release), {
      status: c.res.status,
      statusText: c.res.statusText,
      headers: c.res.headers,
    });
  };
};

/** Passes a stream through, calling `release` once when it ends, fails or is cancelled. */
const releasingOnEnd = (
  body: ReadableStream<Uint8Array>,
  release: () => void,
): ReadableStream<Uint8Array> => {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        release();
        controller.error(err);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason);
    },
  });
};

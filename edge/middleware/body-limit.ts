import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError } from '../../shared/errors.js';
import type { AppEnv } from '../types.js';

/**
 * Refuses a request body over `maxBytes` with 413 before it is read.
 *
 * A declared `Content-Length` (what every OpenAI client sends) is checked from the header alone:
 * Node's HTTP parser never delivers more bytes than declared, and not touching the body here
 * keeps `@hono/node-server` on its fast path, where `c.req.json()` reads the socket directly
 * instead of through a Web stream (that detour was the gateway's largest cost of its own in a CPU
 * profile under load). A chunked body has no declared size, so it is counted as it streams in.
 */
export const limitBody = (maxBytes: number): MiddlewareHandler<AppEnv> => {
  const fail = (): never => {
    throw new PayloadTooLargeError(maxBytes);
  };
  const counted = bodyLimit({ maxSize: maxBytes, onError: fail });
  return async function limitBody(c, next) {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const declared = c.req.header('content-length');
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (!/^\d+$/.test(declared) || Number(declared) > maxBytes) fail();
      return next();
    }
    return counted(c, next);
  };
};

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal Lambda Runtime API (the `2018-06-01` paths the Node.js Runtime Interface Client
 * calls), playing the part of Lambda in front of a function URL in `RESPONSE_STREAM` mode:
 * `invoke(event)` queues an event, a runtime worker takes it from `GET …/invocation/next`, and
 * the response it streams back is split into the HTTP prelude and the body, as a function URL
 * would do before answering the client.
 */

/** Content type of a streamed response that carries an HTTP prelude. */
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER = Buffer.alloc(8);

export interface HttpPrelude {
  statusCode: number;
  headers: Record<string, string>;
  cookies?: string[];
}

export interface BodyChunk {
  /** `performance.now()` when the bytes reached the Runtime API. */
  at: number;
  data: Buffer;
}

export type InvocationOutcome =
  | {
      kind: 'streamed';
      prelude: HttpPrelude | undefined;
      body: Buffer;
      /** `Lambda-Runtime-Function-Error-Type` trailer, when the function failed mid-stream. */
      errorType: string | undefined;
    }
  | { kind: 'buffered'; body: Buffer }
  | { kind: 'error'; errorType: string | undefined; body: string }
  | { kind: 'aborted' };

export interface Invocation {
  readonly id: string;
  /** Resolves once the prelude (status and headers) has arrived. */
  readonly prelude: Promise<HttpPrelude>;
  /** Body bytes after the prelude, as they arrived. */
  readonly chunks: readonly BodyChunk[];
  /** Resolves when at least `bytes` body bytes have arrived. */
  bodyBytes(bytes: number): Promise<void>;
  readonly outcome: Promise<InvocationOutcome>;
  /** The client goes away: the response connection from the runtime is cut. */
  abort(): void;
}

interface Pending {
  id: string;
  event: unknown;
  deadlineMs: number;
}

interface Entry {
  invocation: Invocation;
  onResponse(req: IncomingMessage): void;
  onError(errorType: string | undefined, body: string): void;
}

export interface RuntimeApi {
  /** `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`. */
  readonly address: string;
  invoke(event: unknown, options?: { timeoutMs?: number }): Invocation;
  /** Resolves when this many runtime workers wait on `next` at once. */
  waitingWorkers(count: number): Promise<void>;
  /** Errors posted to `/runtime/init/error`. */
  readonly initErrors: readonly string[];
  close(): Promise<void>;
}

const deferred = <T>() => {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

export async function startRuntimeApi(): Promise<RuntimeApi> {
  const queue: Pending[] = [];
  const waiting: ServerResponse[] = [];
  const entries = new Map<string, Entry>();
  const initErrors: string[] = [];
  const waitingListeners: Array<() => void> = [];

  const dispatch = (): void => {
    while (queue.length > 0 && waiting.length > 0) {
      const next = queue.shift()!;
      const res = waiting.shift()!;
      res.writeHead(200, {
        'content-type': 'application/json',
        'lambda-runtime-aws-request-id': next.id,
        'lambda-runtime-deadline-ms': String(next.deadlineMs),
        'lambda-runtime-invoked-function-arn':
          'arn:aws:lambda:us-east-1:111111111111:function:sluice-gateway:live',
        'lambda-runtime-trace-id': `Root=1-${Date.now().toString(16)}-${next.id.slice(0, 24)}`,
      });
      res.end(JSON.stringify(next.event));
    }
    for (const listener of waitingListeners.splice(0)) listener();
  };

  const readAll = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => resolve(Buffer.concat(parts)));
      req.on('error', reject);
    });

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === '/2018-06-01/runtime/invocation/next') {
      waiting.push(res);
      res.on('close', () => {
        const at = waiting.indexOf(res);
        if (at >= 0) waiting.splice(at, 1);
      });
      dispatch();
      return;
    }
    if (req.method === 'POST' && url === '/2018-06-01/runtime/init/error') {
      void readAll(req).then((body) => {
        initErrors.push(body.toString('utf8'));
        res.writeHead(202).end('{}');
      });
      return;
    }
    const match = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    const entry = match ? entries.get(decodeURIComponent(match[1]!)) : undefined;
    if (req.method !== 'POST' || !match || !entry) {
      res.writeHead(404).end();
      return;
    }
    if (match[2] === 'error') {
      void readAll(req).then((body) => {
        entry.onError(
          req.headers['lambda-runtime-function-error-type'] as string | undefined,
          body.toString('utf8'),
        );
        res.writeHead(202).end('{}');
      });
      return;
    }
    entry.onResponse(req);
    req.on('end', () => res.writeHead(202).end('{}'));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const invoke = (event: unknown, options: { timeoutMs?: number } = {}): Invocation => {
    const id = randomUUID();
    const prelude = deferred<HttpPrelude>();
    const outcome = deferred<InvocationOutcome>();
    // Tests that never look at the prelude of a failed call must not see an unhandled rejection.
    prelude.promise.catch(() => undefined);
    const chunks: BodyChunk[] = [];
    let received = 0;
    const byteWaiters: Array<{ bytes: number; resolve: () => void }> = [];
    let responseReq: IncomingMessage | undefined;
    let aborted = false;

    const addBody = (data: Buffer): void => {
      if (data.length === 0) return;
      chunks.push({ at: performance.now(), data });
      received += data.length;
      for (const w of byteWaiters.filter((w) => received >= w.bytes)) {
        byteWaiters.splice(byteWaiters.indexOf(w), 1);
        w.resolve();
      }
    };

    const invocation: Invocation = {
      id,
      prelude: prelude.promise,
      chunks,
      bodyBytes: (bytes) =>
        received >= bytes
          ? Promise.resolve()
          : new Promise((resolve) => byteWaiters.push({ bytes, resolve })),
      outcome: outcome.promise,
      abort() {
        aborted = true;
        responseReq?.socket.destroy();
        outcome.resolve({ kind: 'aborted' });
      },
    };

    entries.set(id, {
      invocation,
      onResponse(req) {
        responseReq = req;
        const streamed = req.headers['lambda-runtime-function-response-mode'] === 'streaming';
        const withPrelude = req.headers['content-type'] === HTTP_INTEGRATION_CONTENT_TYPE;
        let head = Buffer.alloc(0);
        let parsed: HttpPrelude | undefined;
        const all: Buffer[] = [];
        req.on('data', (chunk: Buffer) => {
          all.push(chunk);
          if (!streamed) return;
          if (!withPrelude || parsed) {
            addBody(chunk);
            return;
          }
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf(DELIMITER);
          if (end < 0) return;
          parsed = JSON.parse(head.subarray(0, end).toString('utf8')) as HttpPrelude;
          prelude.resolve(parsed);
          addBody(head.subarray(end + DELIMITER.length));
        });
        req.on('end', () => {
          if (aborted) return;
          const body = Buffer.concat(all);
          if (!streamed) {
            prelude.reject(new Error('buffered response: no HTTP prelude'));
            outcome.resolve({ kind: 'buffered', body });
            return;
          }
          if (!parsed) prelude.reject(new Error('stream ended before its prelude'));
          const rest = parsed ? Buffer.concat(chunks.map((c) => c.data)) : body;
          outcome.resolve({
            kind: 'streamed',
            prelude: parsed,
            body: rest,
            errorType: req.trailers['lambda-runtime-function-error-type'],
          });
        });
        req.on('error', () => {
          if (!aborted) outcome.resolve({ kind: 'aborted' });
        });
      },
      onError(errorType, body) {
        prelude.reject(new Error(`invocation error ${errorType}`));
        outcome.resolve({ kind: 'error', errorType, body });
      },
    });
    queue.push({ id, event, deadlineMs: Date.now() + (options.timeoutMs ?? 300_000) });
    dispatch();
    return invocation;
  };

  return {
    address: `127.0.0.1:${port}`,
    invoke,
    initErrors,
    waitingWorkers: (count) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (waiting.length >= count) resolve();
          else waitingListeners.push(check);
        };
        check();
      }),
    close: () =>
      new Promise((resolve) => {
        for (const res of waiting.splice(0)) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serveApp } from '../../edge/runtime/serve.js';
import type { EndpointBackend, InvocationInput, InvocationStream } from './backend.js';
import { handleControlPlane } from './control-plane.js';
import {
  faultToStreamException,
  faultToWireError,
  toEndpointFault,
  type WireError,
} from './errors.js';
import {
  EVENT_STREAM_CONTENT_TYPE,
  encodePayloadPart,
  encodeStreamException,
} from './event-stream.js';

/** SageMaker Runtime's own request payload limit. */
export const SAGEMAKER_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** Who an invocation was addressed to, as {@link EndpointAppOptions.onInvocation} sees it. */
export type InvocationRecord = Pick<InvocationInput, 'endpoint' | 'variant' | 'inferenceComponent'>;

export interface EndpointAppOptions {
  /** The endpoints this server answers for, by `EndpointName`. */
  backends: Readonly<Record<string, EndpointBackend>>;
  /** @default SAGEMAKER_MAX_PAYLOAD_BYTES (6 MB) */
  maxBodyBytes?: number;
  /** Only used to build ARNs and messages. @default 'us-east-1' */
  region?: string;
  /** Only used to build ARNs and messages. @default '000000000000' */
  accountId?: string;
  /**
   * Called with anything a backend throws that is not an `EndpointFault` (the caller only sees
   * `InternalFailure`). @default console.error
   */
  onUnexpectedError?: (error: unknown) => void;
  /** Called once per invocation of a known endpoint, before its backend runs. */
  onInvocation?: (record: InvocationRecord) => void;
}

function wireErrorResponse(c: Context, error: WireError, requestId: string): Response {
  return c.body(JSON.stringify(error.body), error.status as 400, {
    'content-type': 'application/json',
    'x-amzn-errortype': error.type,
    'x-amzn-requestid': requestId,
  });
}

/** Aborted when the caller disconnects, or when we give up on the call ourselves. */
function callerSignal(c: Context): AbortController {
  const controller = new AbortController();
  const incoming = c.req.raw.signal;
  if (incoming.aborted) controller.abort(incoming.reason);
  else incoming.addEventListener('abort', () => controller.abort(incoming.reason), { once: true });
  return controller;
}

/**
 * The SageMaker Runtime data plane (`InvokeEndpoint`, `InvokeEndpointWithResponseStream`) and the
 * one control-plane call a readiness check needs (`DescribeEndpoint`), over pluggable backends.
 * Signatures are not verified: any credentials are accepted.
 *
 * @example
 * const app = createEndpointApp({ backends: { 'sluice-chat': chatBackend } });
 * serve({ fetch: app.fetch, port: 8080 });
 */
export function createEndpointApp(options: EndpointAppOptions): Hono {
  const backends = options.backends;
  const maxBodyBytes = options.maxBodyBytes ?? SAGEMAKER_MAX_PAYLOAD_BYTES;
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const onUnexpectedError =
    options.onUnexpectedError ?? ((error: unknown) => console.error('local endpoint:', error));
  const identity = { region, accountId, startedAt: Math.floor(Date.now() / 1000) };

  const toFault = (error: unknown) => {
    const fault = toEndpointFault(error);
    if (fault !== error) onUnexpectedError(error);
    return fault;
  };

  const app = new Hono();
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        wireErrorResponse(
          c,
          {
            status: 413,
            type: 'ValidationError',
            body: { message: `Request payload exceeds ${maxBodyBytes} bytes.` },
          },
          crypto.randomUUID(),
        ),
    }),
  );

  /** Resolves the backend and reads the request, or answers the error SageMaker would. */
  async function prepare(
    c: Context,
    requestId: string,
  ): Promise<
    { backend: EndpointBackend; input: InvocationInput; abort: AbortController } | Response
  > {
    const endpoint = c.req.param('name') ?? '';
    const backend = backends[endpoint];
    if (backend === undefined) {
      return wireErrorResponse(
        c,
        {
          status: 400,
          type: 'ValidationError',
          body: { message: `Endpoint ${endpoint} of account ${accountId} not found.` },
        },
        requestId,
      );
    }
    const abort = callerSignal(c);
    const input: InvocationInput = {
      endpoint,
      variant: c.req.header('x-amzn-sagemaker-target-variant'),
      inferenceComponent: c.req.header('x-amzn-sagemaker-inference-component'),
      contentType: c.req.header('content-type') ?? 'application/octet-stream',
      customAttributes: c.req.header('x-amzn-sagemaker-custom-attributes'),
      body: new Uint8Array(await c.req.arrayBuffer()),
      signal: abort.signal,
    };
    options.onInvocation?.({
      endpoint,
      variant: input.variant,
      inferenceComponent: input.inferenceComponent,
    });
    return { backend, input, abort };
  }

  app.post('/endpoints/:name/invocations', async (c) => {
    const requestId = crypto.randomUUID();
    const prepared = await prepare(c, requestId);
    if (prepared instanceof Response) return prepared;
    const { backend, input } = prepared;
    try {
      const output = await backend.invoke(input);
      return c.body(output.body as Uint8Array<ArrayBuffer>, 200, {
        'content-type': output.contentType ?? 'application/json',
        'x-amzn-invoked-production-variant': output.invokedVariant ?? input.variant ?? 'AllTraffic',
        'x-amzn-requestid': requestId,
      });
    } catch (error) {
      return wireErrorResponse(c, faultToWireError(toFault(error), input.endpoint), requestId);
    }
  });

  app.post('/endpoints/:name/invocations-response-stream', async (c) => {
    const requestId = crypto.randomUUID();
    const prepared = await prepare(c, requestId);
    if (prepared instanceof Response) return prepared;
    const { backend, input, abort } = prepared;

    let source: AsyncIterable<Uint8Array> | InvocationStream;
    let iterator: AsyncIterator<Uint8Array>;
    let first: IteratorResult<Uint8Array>;
    try {
      source = backend.invokeStream(input);
      iterator = source[Symbol.asyncIterator]();
      // A fault before the first part is still an HTTP error, as SageMaker answers it.
      first = await iterator.next();
    } catch (error) {
      abort.abort();
      return wireErrorResponse(c, faultToWireError(toFault(error), input.endpoint), requestId);
    }
    const meta = source as InvocationStream;

    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          if (first.done) controller.close();
          else controller.enqueue(encodePayloadPart(first.value));
        },
        async pull(controller) {
          try {
            const next = await iterator.next();
            if (next.done) controller.close();
            else controller.enqueue(encodePayloadPart(next.value));
          } catch (error) {
            if (abort.signal.aborted) {
              // The caller is gone; there is no one left to tell.
              controller.close();
              return;
            }
            const { type, fields } = faultToStreamException(toFault(error));
            controller.enqueue(encodeStreamException(type, fields));
            controller.close();
          }
        },
        async cancel(reason) {
          abort.abort(reason);
          await iterator.return?.();
        },
      },
      // Pull only when the socket wants more, so parts leave as the backend yields them.
      { highWaterMark: 0 },
    );

    return c.body(body, 200, {
      'content-type': EVENT_STREAM_CONTENT_TYPE,
      'x-amzn-sagemaker-content-type': meta.contentType ?? 'application/octet-stream',
      'x-amzn-invoked-production-variant': meta.invokedVariant ?? input.variant ?? 'AllTraffic',
      'x-amzn-requestid': requestId,
    });
  });

  app.post('/', async (c) =>
    handleControlPlane(c, backends, identity, new Uint8Array(await c.req.arrayBuffer())),
  );

  app.notFound((c) =>
    wireErrorResponse(
      c,
      {
        status: 404,
        type: 'UnknownOperationException',
        body: { message: `No operation at ${c.req.method} ${c.req.path}.` },
      },
      crypto.randomUUID(),
    ),
  );
  app.onError((error, c) => {
    onUnexpectedError(error);
    return wireErrorResponse(
      c,
      { status: 500, type: 'InternalFailure', body: { message: 'An internal error occurred.' } },
      crypto.randomUUID(),
    );
  });
  return app;
}

export interface LocalEndpointOptions extends EndpointAppOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** `0` picks a free port; the real one is in `url`. */
  port: number;
}

/** How many invocations {@link LocalEndpoint.invocations} remembers. */
export const RECENT_INVOCATIONS = 100;

export interface LocalEndpoint {
  /** Base URL to hand to the SDK clients as `endpoint`, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /**
   * The last {@link RECENT_INVOCATIONS} invocations, oldest first: what tests read to see which
   * variant or inference component the caller addressed.
   */
  readonly invocations: readonly InvocationRecord[];
  /** Stops listening and drops open connections (streams in flight see their signal abort). */
  close(): Promise<void>;
}

/**
 * Serves {@link createEndpointApp} over HTTP/1.1 on loopback.
 *
 * @example
 * const endpoint = await startLocalEndpoint({ port: 0, backends });
 * const runtime = new SageMakerRuntimeClient({
 *   endpoint: endpoint.url,
 *   region: 'us-east-1',
 *   credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
 * });
 */
export async function startLocalEndpoint(options: LocalEndpointOptions): Promise<LocalEndpoint> {
  const invocations: InvocationRecord[] = [];
  const app = createEndpointApp({
    ...options,
    onInvocation(record) {
      invocations.push(record);
      if (invocations.length > RECENT_INVOCATIONS) invocations.shift();
      options.onInvocation?.(record);
    },
  });
  // Closing cuts open streams at once (drainMs 0): their backends see `signal` abort.
  const server = await serveApp(app, {
    host: options.host ?? '127.0.0.1',
    port: options.port,
    drainMs: 0,
  });
  return {
    url: server.url,
    invocations,
    close: async () => {
      await server.close();
    },
  };
}

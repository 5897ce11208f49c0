import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import { ClientClosedError } from '../../../shared/errors.js';
import {
  EndpointFault,
  type EndpointBackend,
  type InvocationInput,
} from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { GatewayError } from '../../../shared/errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A scripted container: what it does is chosen by the `mode` field of the request body. */
const scripted: EndpointBackend & { lastSignal?: AbortSignal; seen: InvocationInput[] } = {
  seen: [],
  async invoke(input) {
    this.seen.push(input);
    const body = JSON.parse(decoder.decode(input.body)) as { mode: string };
    switch (body.mode) {
      case 'echo':
        return {
          body: encoder.encode(JSON.stringify({ got: body, variant: input.variant ?? null })),
        };
      case 'not-json':
        return { body: encoder.encode('<html>') };
      case 'hang':
        this.lastSignal = input.signal;
        await new Promise((_, reject) =>
          input.signal.addEventListener('abort', () => reject(new Error('aborted'))),
        );
        throw new Error('unreachable');
      case 'model-500':
        throw new EndpointFault('model', 'container crashed at arn:aws:sagemaker:secret', 500);
      case 'model-400':
        throw new EndpointFault('model', 'bad input', 400);
      case 'throttling':
        throw new EndpointFault('throttling', 'slow down');
      case 'validation':
        throw new EndpointFault('validation', 'no such endpoint');
      case 'unavailable':
        throw new EndpointFault('unavailable', 'down');
      case 'not-ready':
        throw new EndpointFault('not-ready', 'loading');
      default:
        throw new EndpointFault('internal', 'boom');
    }
  },
  async *invokeStream(input) {
    const body = JSON.parse(decoder.decode(input.body)) as { mode: string };
    if (body.mode === 'throttling') throw new EndpointFault('throttling', 'slow down');
    // One JSON line cut across three parts, then two lines in one part.
    yield encoder.encode('data:{"token":{"te');
    yield encoder.encode('xt":"Hel');
    yield encoder.encode('lo"}}\n\ndata:{"token":{"text":" wor"}}\ndata:{"token":{"text":"ld"}}\n');
    if (body.mode === 'model-stream-error') throw new EndpointFault('model', 'died mid-way', 500);
    if (body.mode === 'internal-stream-failure') throw new EndpointFault('internal', 'lost');
    yield encoder.encode('{"details":{"finish_reason":"length","generated_tokens":3}}');
  },
};

let endpoint: LocalEndpoint;
let invoker: SageMakerInvoker;

beforeAll(async () => {
  endpoint = await startLocalEndpoint({
    port: 0,
    backends: { ep: scripted },
    onUnexpectedError: () => {},
  });
  invoker = new SageMakerInvoker({
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});
afterAll(() => endpoint.close());

const call = (
  mode: string,
  extra: { timeoutMs?: number; signal?: AbortSignal; variant?: string } = {},
) => ({
  target: { endpoint: 'ep', variant: extra.variant },
  body: { mode },
  signal: extra.signal ?? new AbortController().signal,
  timeoutMs: extra.timeoutMs ?? 5000,
  modelId: 'm1',
});

const failure = async (p: Promise<unknown>): Promise<GatewayError> => {
  try {
    await p;
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('expected a failure');
};

describe('SageMakerInvoker against a loopback SageMaker Runtime', () => {
  it('invokes an endpoint and parses the JSON answer, passing the target variant', async () => {
    expect(await invoker.invoke(call('echo', { variant: 'canary' }))).toEqual({
      got: { mode: 'echo' },
      variant: 'canary',
    });
  });

  it.each([
    ['model-500', 502, 'model_error'],
    ['model-400', 400, 'model_rejected_input'],
    ['throttling', 429, 'upstream_throttled'],
    ['validation', 502, 'upstream_validation_error'],
    ['unavailable', 503, 'upstream_unavailable'],
    ['not-ready', 503, 'model_not_ready'],
    ['internal', 502, 'upstream_internal_error'],
    ['not-json', 502, 'bad_upstream_response'],
  ])('maps a %s answer to %i %s', async (mode, status, code) => {
    const err = await failure(invoker.invoke(call(mode)));
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.status).toBe(status);
    expect(err.code).toBe(code);
    expect(err.message).not.toContain('arn:');
  });

  it('times out a hung container with 504 and aborts the upstream call', async () => {
    const err = await failure(invoker.invoke(call('hang', { timeoutMs: 150 })));
    expect(err.status).toBe(504);
    await expect.poll(() => scripted.lastSignal?.aborted).toBe(true);
  });

  it('aborts the upstream call when the caller goes away', async () => {
    const controller = new AbortController();
    const pending = invoker.invoke(call('hang', { signal: controller.signal }));
    await expect
      .poll(
        () =>
          scripted.seen.at(-1) !== undefined &&
          scripted.lastSignal !== undefined &&
          !scripted.lastSignal.aborted,
      )
      .toBe(true);
    controller.abort();
    expect(await failure(pending)).toBeInstanceOf(ClientClosedError);
    await expect.poll(() => scripted.lastSignal?.aborted).toBe(true);
  });

  it('re-assembles streamed lines split across PayloadParts', async () => {
    const events: unknown[] = [];
    for await (const e of invoker.invokeStream(call('ok'))) events.push(e);
    expect(events).toEqual([
      { token: { text: 'Hello' } },
      { token: { text: ' wor' } },
      { token: { text: 'ld' } },
      { details: { finish_reason: 'length', generated_tokens: 3 } },
    ]);
  });

  it.each([
    ['model-stream-error', 'model_stream_error'],
    ['internal-stream-failure', 'internal_stream_failure'],
  ])('raises %s after the events that came before it', async (mode, code) => {
    const events: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const e of invoker.invokeStream(call(mode))) events.push(e);
      })(),
    );
    expect(events).toHaveLength(3);
    expect(err.status).toBe(502);
    expect(err.code).toBe(code);
  });

  it('maps a stream refused before it starts', async () => {
    const err = await failure(
      (async () => {
        for await (const _ of invoker.invokeStream(call('throttling'))) void _;
      })(),
    );
    expect(err.status).toBe(429);
  });

  it('reports readiness through DescribeEndpoint', async () => {
    await expect(
      invoker.checkReady({ endpoint: 'ep', variant: undefined }, 2000),
    ).resolves.toBeUndefined();
    await expect(
      invoker.checkReady({ endpoint: 'missing', variant: undefined }, 2000),
    ).rejects.toThrow();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARDED_AUTH_HEADER } from '../../../cdk/constructs/edge-distribution.js';
import { EndpointFault, type EndpointBackend } from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import {
  accessClaims,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
  type TestKey,
} from '../../edge/auth/fixtures.js';
import { bundleGateway, type GatewayBundle } from './bundle.js';
import { functionUrlEvent } from './function-url-event.js';
import { startRic, type RicProcess } from './ric.js';
import { startRuntimeApi, type Invocation, type RuntimeApi } from './runtime-api.js';

/**
 * The production entry (`functions/gateway/handler.ts`), bundled as `GatewayFunction` bundles it,
 * run by the real Node.js Runtime Interface Client against a Runtime API in the test, with
 * function-URL events; the gateway's upstream is the local SageMaker-compatible endpoint.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Each streamed call waits here between its first and its last token. */
const gates = new Map<string, { release: () => void; released: Promise<void> }>();
/** Resolves when the upstream call of the named prompt sees its caller go away. */
const upstreamAborts = new Map<string, Promise<void>>();

const gate = (prompt: string) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  gates.set(prompt, { release, released });
  return release;
};

const sse = (event: unknown): Uint8Array => encoder.encode(`data: ${JSON.stringify(event)}\n\n`);
const chunk = (content: string, finish: string | null = null) => ({
  id: 'up-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'up',
  choices: [{ index: 0, delta: { content }, finish_reason: finish }],
});

const promptOf = (body: Uint8Array): string => {
  const parsed = JSON.parse(decoder.decode(body)) as { messages: Array<{ content: string }> };
  return parsed.messages.at(-1)!.content;
};

/** A scripted engine speaking the OpenAI chat schema on `/invocations`. */
const chatBackend: EndpointBackend = {
  async invoke(input) {
    const prompt = promptOf(input.body);
    if (prompt === 'fail') throw new EndpointFault('model', 'CUDA out of memory', 500);
    return {
      body: encoder.encode(
        JSON.stringify({
          id: 'up-1',
          object: 'chat.completion',
          created: 1,
          model: 'up',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: `echo: ${prompt}` },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        }),
      ),
    };
  },
  async *invokeStream(input) {
    const prompt = promptOf(input.body);
    upstreamAborts.set(
      prompt,
      new Promise((resolve) => input.signal.addEventListener('abort', () => resolve())),
    );
    yield sse(chunk('first'));
    await gates.get(prompt)?.released;
    yield sse(chunk(' last', 'stop'));
    yield sse({
      ...chunk('', null),
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
    yield encoder.encode('data: [DONE]\n\n');
  },
};

let endpoint: LocalEndpoint;
let jwks: LoopbackServer;
let key: TestKey;
let bundle: GatewayBundle;

beforeAll(async () => {
  [endpoint, key, jwks, bundle] = await Promise.all([
    startLocalEndpoint({ port: 0, backends: { 'chat-ep': chatBackend } }),
    makeKey(),
    serveJwks(),
    bundleGateway(),
  ]);
  jwks.keys = [key.jwk];
}, 60_000);

afterAll(async () => {
  await Promise.all([endpoint?.close(), jwks?.close()]);
});

/** The environment `ServingStack` gives the function, pointed at the local servers. */
const gatewayEnvironment = (): Record<string, string> => ({
  SLUICE_CONFIG_JSON: JSON.stringify({
    models: [{ id: 'chat', kind: 'chat', policy: 'admit', format: 'openai', endpoint: 'chat-ep' }],
  }),
  SLUICE_SAGEMAKER_ENDPOINT_URL: endpoint.url,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  SLUICE_AUTH_ISSUER: `${jwks.url}/pool`,
  SLUICE_AUTH_CLIENT_IDS: CLIENT_ID,
  SLUICE_AUTH_JWKS_URL: `${jwks.url}/jwks.json`,
  SLUICE_AUTH_TOKEN_HEADER: FORWARDED_AUTH_HEADER,
  SLUICE_METRICS: 'emf',
  LOG_LEVEL: 'error',
});

const SHAPES = [
  { name: 'Lambda (default): one request per environment', multiConcurrent: undefined },
  {
    name: 'Managed Instances: worker threads, many requests each',
    multiConcurrent: { maxConcurrency: 8, workers: 2 },
  },
] as const;

describe.each(SHAPES)(
  'the bundled gateway under the Node.js RIC — $name',
  ({ multiConcurrent }) => {
    let api: RuntimeApi;
    let ric: RicProcess;
    let token: string;

    beforeAll(async () => {
      api = await startRuntimeApi();
      ric = startRic({
        runtimeApi: api.address,
        taskRoot: bundle.taskRoot,
        environment: gatewayEnvironment(),
        ...(multiConcurrent ? { multiConcurrent } : {}),
      });
      token = await sign(key, accessClaims(`${jwks.url}/pool`, Math.floor(Date.now() / 1000)));
      await api.waitingWorkers(multiConcurrent?.workers ?? 1);
    }, 30_000);

    afterAll(async () => {
      await ric?.stop();
      await api?.close();
    });

    const chat = (
      content: string,
      options: { stream?: boolean; model?: string } = {},
    ): Invocation =>
      api.invoke(
        functionUrlEvent({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: {
            'content-type': 'application/json',
            // What CloudFront sends: OAC's SigV4 in Authorization, the bearer token beside it.
            authorization:
              'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/lambda/aws4_request, Signature=y',
            [FORWARDED_AUTH_HEADER]: `Bearer ${token}`,
          },
          body: JSON.stringify({
            model: options.model ?? 'chat',
            messages: [{ role: 'user', content }],
            ...(options.stream ? { stream: true } : {}),
          }),
        }),
      );

    const text = (buf: Buffer): string => buf.toString('utf8');

    it('answers a chat call with a status, headers and an OpenAI body', async () => {
      const call = chat('hello');
      const outcome = await call.outcome;
      expect(outcome.kind, ric.output()).toBe('streamed');
      if (outcome.kind !== 'streamed') return;
      expect(outcome.prelude?.statusCode).toBe(200);
      expect(outcome.prelude?.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(text(outcome.body));
      expect(body.object).toBe('chat.completion');
      expect(body.model).toBe('chat');
      expect(body.choices[0].message.content).toBe('echo: hello');
      expect(outcome.errorType).toBeUndefined();
    });

    it('streams the first chunk to the function URL before the engine produces the last token', async () => {
      const release = gate('stream-me');
      const call = chat('stream-me', { stream: true });
      const prelude = await call.prelude;
      expect(prelude.statusCode).toBe(200);
      expect(prelude.headers['content-type']).toMatch(/^text\/event-stream/);
      // Blocks until the first token's event has crossed the Runtime API: the engine has not yet
      // been allowed to produce the last one, so a buffered response would hang here.
      await call.bodyBytes(1);
      const early = text(Buffer.concat(call.chunks.map((c) => c.data)));
      expect(early).toContain('"first"');
      expect(early).not.toContain(' last');
      release();
      const outcome = await call.outcome;
      expect(outcome.kind).toBe('streamed');
      if (outcome.kind !== 'streamed') return;
      const events = text(outcome.body)
        .split('\n\n')
        .filter((e) => e.startsWith('data: '))
        .map((e) => e.slice(6));
      expect(events.at(-1)).toBe('[DONE]');
      const content = events
        .slice(0, -1)
        .map((e) => JSON.parse(e))
        .flatMap((e) =>
          e.choices.map((c: { delta: { content?: string } }) => c.delta.content ?? ''),
        )
        .join('');
      expect(content).toBe('first last');
    });

    it('answers an engine failure and an unknown model with errors in the OpenAI shape', async () => {
      const failed = await chat('fail').outcome;
      const unknown = await chat('hello', { model: 'nope' }).outcome;
      for (const [outcome, status] of [
        [failed, 502],
        [unknown, 404],
      ] as const) {
        expect(outcome.kind).toBe('streamed');
        if (outcome.kind !== 'streamed') continue;
        expect(outcome.prelude?.statusCode).toBe(status);
        const body = JSON.parse(text(outcome.body));
        expect(body.error).toEqual({
          message: expect.any(String),
          type: expect.any(String),
          param: status === 404 ? 'model' : null,
          code: expect.any(String),
        });
        expect(text(outcome.body)).not.toContain('CUDA');
      }
    });

    // Lambda documents that a client's disconnect does not stop a streamed response, so the
    // connection from the runtime is what a proxy in front would cut. In the single-concurrency
    // shape the RIC itself exits on that (an unhandled 'socket hang up'), so only the worker shape,
    // where the RIC logs and carries on, can show what the handler does.
    it.runIf(multiConcurrent)(
      'stops the engine call when its response connection is cut and keeps serving',
      async () => {
        gate('abandon-me');
        const call = chat('abandon-me', { stream: true });
        await call.bodyBytes(1);
        call.abort();
        await upstreamAborts.get('abandon-me');
        const after = await chat('still there?').outcome;
        expect(after.kind).toBe('streamed');
        if (after.kind === 'streamed') expect(after.prelude?.statusCode).toBe(200);
      },
    );
  },
);

describe('one Managed Instances worker thread under the Node.js RIC 4.0.2', () => {
  let api: RuntimeApi;
  let ric: RicProcess;
  let token: string;

  beforeAll(async () => {
    api = await startRuntimeApi();
    ric = startRic({
      runtimeApi: api.address,
      taskRoot: bundle.taskRoot,
      environment: gatewayEnvironment(),
      multiConcurrent: { maxConcurrency: 4, workers: 1 },
    });
    token = await sign(key, accessClaims(`${jwks.url}/pool`, Math.floor(Date.now() / 1000)));
    await api.waitingWorkers(1);
  }, 30_000);

  afterAll(async () => {
    await ric?.stop();
    await api?.close();
  });

  // aws-lambda-ric 4.0.2 posts every streamed response of a worker through one keep-alive
  // socket (an http.Agent with maxSockets 1), so a worker's responses reach Lambda one at a
  // time: the second waits for the first to end. docs/lambda.md draws the consequences.
  it('holds a second response of the same worker until its first stream ends', async () => {
    const stream = (content: string): Invocation =>
      api.invoke(
        functionUrlEvent({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: {
            'content-type': 'application/json',
            [FORWARDED_AUTH_HEADER]: `Bearer ${token}`,
          },
          body: JSON.stringify({
            model: 'chat',
            messages: [{ role: 'user', content }],
            stream: true,
          }),
        }),
      );
    const releaseFirst = gate('first-of-two');
    const releaseSecond = gate('second-of-two');
    const first = stream('first-of-two');
    await first.bodyBytes(1);
    const second = stream('second-of-two');
    const early = await Promise.race([
      second.bodyBytes(1).then(() => 'second streamed alongside'),
      new Promise((resolve) => setTimeout(() => resolve('second held'), 1500)),
    ]);
    expect(early).toBe('second held');
    releaseFirst();
    await first.outcome;
    await second.bodyBytes(1);
    releaseSecond();
    expect((await second.outcome).kind).toBe('streamed');
  }, 20_000);
});

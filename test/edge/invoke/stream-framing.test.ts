import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../edge/app.js';
import { SageMakerInvoker } from '../../../edge/invoke/sagemaker.js';
import type { EndpointBackend } from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { parseGatewayConfig } from '../../../shared/config/load.js';

/**
 * Container streams over the real SDK and the SageMaker event-stream framing: the same answer,
 * written as server-sent events or as JSON lines, cut into `PayloadPart`s at every byte, reaches
 * the client as the same deltas.
 */
const encoder = new TextEncoder();

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'up',
  object: 'chat.completion.chunk',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});
const OPEN_CALL = {
  index: 0,
  id: 'call_7',
  type: 'function',
  function: { name: 'f', arguments: '' },
};
const upstream = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ reasoning_content: 'déjà vu 🙂' }),
  chunk({ content: 'Olá, ' }),
  chunk({ tool_calls: [OPEN_CALL] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Zürich"}' } }] }),
  chunk({}, 'tool_calls'),
  { id: 'up', choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } },
];

const FRAMINGS = {
  sse: encoder.encode(
    upstream.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n',
  ),
  'json-lines': encoder.encode(upstream.map((e) => JSON.stringify(e)).join('\n') + '\n'),
};

/** The backend streams the framing named in the request's `user` field, cut where it says. */
let cuts: number[] = [];
const container: EndpointBackend = {
  async invoke() {
    throw new Error('not used');
  },
  async *invokeStream(input) {
    const body = JSON.parse(new TextDecoder().decode(input.body)) as {
      user: keyof typeof FRAMINGS;
    };
    const bytes = FRAMINGS[body.user];
    let from = 0;
    for (const at of [...cuts, bytes.length]) {
      if (at > from) yield bytes.slice(from, at);
      from = Math.max(from, at);
    }
  },
};

let endpoint: LocalEndpoint;
let post: (framing: string) => Promise<Response>;

beforeAll(async () => {
  endpoint = await startLocalEndpoint({ port: 0, backends: { shared: container } });
  const config = parseGatewayConfig({
    models: [
      {
        id: 'm',
        kind: 'chat',
        policy: 'admit',
        endpoint: 'shared',
        inferenceComponent: 'deepseek-ic',
        admit: { maxConcurrency: 64 },
      },
    ],
  });
  const invoker = new SageMakerInvoker({
    endpointUrl: endpoint.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { app } = createApp({ config, invoker, auth: { mode: 'disabled' } });
  post = async (framing) =>
    app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
        user: framing,
      }),
    });
});
afterAll(() => endpoint.close());

/** What the client saw: every event's choices and usage, without the per-response id. */
const received = async (res: Response) => {
  const events = (await res.text())
    .split('\n\n')
    .map((e) => e.trim().replace(/^data: /, ''))
    .filter(Boolean);
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => {
    const { choices, usage } = JSON.parse(e) as { choices: unknown; usage: unknown };
    return { choices, usage };
  });
};

describe('container stream framings over the SDK', () => {
  it.each(Object.keys(FRAMINGS))(
    '%s: the same deltas wherever the bytes are cut',
    async (framing) => {
      const bytes = FRAMINGS[framing as keyof typeof FRAMINGS];
      cuts = [];
      const whole = await received(await post(framing));
      expect(whole.map((e) => e.choices)).toEqual([
        [{ index: 0, delta: { role: 'assistant' }, logprobs: null, finish_reason: null }],
        [
          {
            index: 0,
            delta: { reasoning_content: 'déjà vu 🙂' },
            logprobs: null,
            finish_reason: null,
          },
        ],
        [{ index: 0, delta: { content: 'Olá, ' }, logprobs: null, finish_reason: null }],
        [
          {
            index: 0,
            delta: { tool_calls: [OPEN_CALL] },
            logprobs: null,
            finish_reason: null,
          },
        ],
        [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":"Zürich"}' } }] },
            logprobs: null,
            finish_reason: null,
          },
        ],
        [{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }],
        [],
      ]);
      expect(whole.at(-1)!.usage).toEqual({
        prompt_tokens: 3,
        completion_tokens: 5,
        total_tokens: 8,
      });
      for (let at = 1; at < bytes.length; at++) {
        cuts = [at];
        expect(await received(await post(framing))).toEqual(whole);
      }
      // And one byte per part.
      cuts = Array.from({ length: bytes.length }, (_, i) => i + 1);
      expect(await received(await post(framing))).toEqual(whole);
    },
    60_000,
  );

  it('addresses the inference component the target names', async () => {
    cuts = [];
    await received(await post('sse'));
    expect(endpoint.invocations.at(-1)).toEqual({
      endpoint: 'shared',
      variant: undefined,
      inferenceComponent: 'deepseek-ic',
    });
  });
});

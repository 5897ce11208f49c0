import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointBackend } from '../../local/endpoint/backend.js';
import { createLocalBackends, type LocalBackends } from '../../local/model/local-backends.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';

/**
 * The whole local request path, driven by the official `openai` client: gateway → real AWS
 * SDK → local SageMaker-compatible endpoint → the CPU model.
 */
let stack: LocalStack;
let secured: LocalStack;
let client: OpenAI;
let local: LocalBackends;
/** Token events the chat model has produced for the stream in flight. */
let produced = 0;
/** Usage and audit lines the first stack wrote. */
const records: string[] = [];

beforeAll(async () => {
  local = await createLocalBackends({ threads: 1 });
  const chat = local.backends['sluice-chat']!;
  // Count what the model has produced, to show the client sees tokens before the model is done.
  const counted: EndpointBackend = {
    invoke: (input) => chat.invoke(input),
    async *invokeStream(input) {
      produced = 0;
      for await (const part of chat.invokeStream(input)) {
        produced++;
        yield part;
      }
    },
  };
  stack = await startLocalStack({
    port: 0,
    auth: 'disabled',
    issuerStateFile: null,
    records: (text) => void records.push(text),
    backends: { ...local, backends: { ...local.backends, 'sluice-chat': counted } },
  });
  client = new OpenAI({
    baseURL: `${stack.gatewayUrl}/v1`,
    apiKey: 'unused-auth-disabled',
    maxRetries: 0,
  });
  // The default: authentication on, tokens from the stack's own local issuer.
  secured = await startLocalStack({
    port: 0,
    issuerPort: 0,
    issuerStateFile: null,
    print: () => {},
    records: () => {},
    backends: local,
  });
}, 120_000);

afterAll(async () => {
  await secured?.close();
  await stack?.close();
  await local?.close();
});

describe('local stack with the official openai client', () => {
  it('charges requests to the token quota in dynalite and writes a usage record', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'sluice-tiny-chat',
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 4,
      })
      .withResponse();
    expect(stack.quotaStore?.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('1000000');
    expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(1_000_000);
    for (let i = 0; i < 300 && !records.join('').includes('"type":"usage"'); i++)
      await new Promise((r) => setTimeout(r, 10));
    const usage = records
      .join('')
      .split('\n')
      .filter((l) => l.includes('"type":"usage"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(usage.at(-1)).toMatchObject({
      tenant: 'local',
      model: 'sluice-tiny-chat',
      prompt_tokens: data.usage!.prompt_tokens,
      completion_tokens: data.usage!.completion_tokens,
      usage_reported: true,
    });
  });

  it('lists the local models', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([
      'sluice-tiny-chat',
      'sluice-tiny-reasoner',
      'sluice-tiny-embed',
    ]);
  });

  it('answers a chat completion deterministically at temperature 0', async () => {
    const ask = () =>
      client.chat.completions.create({
        model: 'sluice-tiny-chat',
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 12,
        temperature: 0,
      });
    const [a, b] = [await ask(), await ask()];
    expect(a.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    expect(a.usage!.completion_tokens).toBeGreaterThan(0);
    expect(a.usage!.completion_tokens).toBeLessThanOrEqual(12);
    expect(a.usage!.prompt_tokens).toBeGreaterThan(0);
  });

  it('streams a chat completion, the first chunk arriving before the model has finished', async () => {
    const stream = await client.chat.completions.create({
      model: 'sluice-tiny-chat',
      messages: [{ role: 'user', content: 'Tell me a long story' }],
      max_tokens: 400,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let producedAtFirstContent: number | undefined;
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta && producedAtFirstContent === undefined) producedAtFirstContent = produced;
      text += delta ?? '';
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage!.completion_tokens).toBeGreaterThan(1);
    expect(producedAtFirstContent!).toBeLessThan(usage!.completion_tokens);
    expect(['stop', 'length']).toContain(finish);
  });

  it('answers a text completion', async () => {
    const res = await client.completions.create({
      model: 'sluice-tiny-chat',
      prompt: 'Once upon a time',
      max_tokens: 8,
      temperature: 0,
    });
    expect(res.choices[0]!.text.length).toBeGreaterThan(0);
  });

  it('embeds with the base64 default of the client and with floats, identically', async () => {
    const input = ['the quick brown fox', 'a lazy dog'];
    const b64 = await client.embeddings.create({ model: 'sluice-tiny-embed', input });
    const floats = await client.embeddings.create({
      model: 'sluice-tiny-embed',
      input,
      encoding_format: 'float',
    });
    expect(b64.data).toHaveLength(2);
    expect(b64.data[0]!.embedding.length).toBe(local.info.embeddingSize);
    b64.data.forEach((d, i) => {
      d.embedding.forEach((x, j) => expect(x).toBeCloseTo(floats.data[i]!.embedding[j]!, 5));
    });
    expect(b64.data[0]!.embedding).not.toEqual(b64.data[1]!.embedding);
  });

  it('maps a client mistake to an OpenAI error the client understands', async () => {
    await expect(
      client.chat.completions.create({
        model: 'no-such-model',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });
});

/** A client-credentials token for `role` from the stack's own issuer (HTTP Basic client auth). */
const tokenFor = async (role: 'consumer' | 'viewer'): Promise<string> => {
  const issuer = secured.issuer!;
  const c = issuer.clientForRole[role]!;
  const res = await fetch(issuer.tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
};

describe('local stack with authentication on (the default)', () => {
  it('serves the openai client holding a client-credentials token', async () => {
    const authed = new OpenAI({
      baseURL: `${secured.gatewayUrl}/v1`,
      apiKey: await tokenFor('consumer'),
      maxRetries: 0,
    });
    const res = await authed.chat.completions.create({
      model: 'sluice-tiny-chat',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 4,
      temperature: 0,
    });
    expect(res.choices[0]!.message.content!.length).toBeGreaterThan(0);
  });

  it('refuses a request without a token with 401 and a Bearer challenge', async () => {
    const res = await fetch(`${secured.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'sluice-tiny-chat',
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expect((await res.json()).error.type).toBe('authentication_error');
  });

  it('refuses a Viewer token on the inference API with 403 insufficient_scope', async () => {
    const res = await fetch(`${secured.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await tokenFor('viewer')}`,
      },
      body: JSON.stringify({
        model: 'sluice-tiny-chat',
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
  });
});

import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  ModelError,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvocationInput } from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { createLocalBackends, type LocalBackends } from '../../../local/model/local-backends.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface TgiResponse {
  generated_text: string;
  details: { finish_reason: string; generated_tokens: number; prompt_tokens: number };
}
interface TgiEvent {
  token: { id: number; text: string; logprob: number; special: boolean };
  generated_text: string | null;
  details: TgiResponse['details'] | null;
}

describe('local model backends behind the local endpoint', () => {
  let dir: string;
  let local: LocalBackends;
  let endpoint: LocalEndpoint;
  let runtime: SageMakerRuntimeClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-local-'));
    // env {} so a developer's SLUICE_LOCAL_GGUF does not change what the tests run.
    local = await createLocalBackends({ modelDir: dir, env: {}, threads: 1, sequences: 2 });
    endpoint = await startLocalEndpoint({ port: 0, backends: local.backends });
    runtime = new SageMakerRuntimeClient({
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    runtime?.destroy();
    await endpoint?.close();
    await local?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const generate = async (body: unknown): Promise<TgiResponse[]> => {
    const out = await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: 'sluice-chat',
        ContentType: 'application/json',
        Body: encoder.encode(JSON.stringify(body)),
      }),
    );
    return JSON.parse(decoder.decode(out.Body)) as TgiResponse[];
  };

  const streamParts = async (body: unknown): Promise<{ parts: string[]; contentType?: string }> => {
    const out = await runtime.send(
      new InvokeEndpointWithResponseStreamCommand({
        EndpointName: 'sluice-chat',
        ContentType: 'application/json',
        Body: encoder.encode(JSON.stringify(body)),
      }),
    );
    const parts: string[] = [];
    for await (const event of out.Body ?? []) parts.push(decoder.decode(event.PayloadPart?.Bytes));
    return { parts, contentType: out.ContentType };
  };

  const embed = async (body: unknown): Promise<number[][]> => {
    const out = await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: 'sluice-embed',
        ContentType: 'application/json',
        Body: encoder.encode(JSON.stringify(body)),
      }),
    );
    return JSON.parse(decoder.decode(out.Body)) as number[][];
  };

  it('serves the generated stand-in model', () => {
    expect(local.info).toMatchObject({ standIn: true, generated: true, embeddingSize: 64 });
  });

  it('generates greedily and deterministically at temperature 0, stopping at max_new_tokens', async () => {
    const request = { inputs: 'The river', parameters: { max_new_tokens: 8, temperature: 0 } };
    const [first] = await generate(request);
    const [second] = await generate({
      ...request,
      parameters: { max_new_tokens: 8, do_sample: false },
    });

    expect(first?.generated_text.trim().length).toBeGreaterThan(0);
    expect(second?.generated_text).toBe(first?.generated_text);
    expect(first?.details).toMatchObject({ finish_reason: 'length', generated_tokens: 8 });
    expect(first?.details.prompt_tokens).toBeGreaterThan(1);
  });

  it('gives the same sample for the same seed', async () => {
    const request = {
      inputs: 'seven stones',
      parameters: { max_new_tokens: 12, temperature: 1, do_sample: true, seed: 42 },
    };
    const [a] = await generate(request);
    const [b] = await generate(request);
    expect(b?.generated_text).toBe(a?.generated_text);
  });

  it('stops at a stop sequence', async () => {
    const [full] = await generate({ inputs: 'The river', parameters: { max_new_tokens: 8 } });
    const words = full?.generated_text.trim().split(/\s+/) ?? [];
    const stop = words[2] ?? '';
    const [stopped] = await generate({
      inputs: 'The river',
      parameters: { max_new_tokens: 8, stop: [stop] },
    });
    expect(stopped?.details.finish_reason).toBe('stop_sequence');
    expect(stopped?.generated_text).toContain(stop);
    expect(stopped?.details.generated_tokens).toBeLessThan(8);
  });

  it('streams one TGI event per token, the last carrying the full text and details', async () => {
    const request = { inputs: 'The river', parameters: { max_new_tokens: 6, temperature: 0 } };
    const { parts, contentType } = await streamParts(request);
    const [whole] = await generate(request);

    expect(contentType).toBe('text/event-stream');
    expect(parts).toHaveLength(6);
    const events = parts.map((part) => {
      expect(part).toMatch(/^data:\{.*\}\n\n$/s);
      return JSON.parse(part.slice('data:'.length)) as TgiEvent;
    });
    expect(events.slice(0, -1).every((e) => e.generated_text === null && e.details === null)).toBe(
      true,
    );
    const last = events.at(-1);
    expect(last?.generated_text).toBe(events.map((e) => e.token.text).join(''));
    expect(last?.generated_text).toBe(whole?.generated_text);
    expect(last?.details).toMatchObject({ finish_reason: 'length', generated_tokens: 6 });
    expect(events.every((e) => e.token.logprob <= 0 && e.token.special === false)).toBe(true);
  });

  it('computes tokens only as they are read, and stops when the caller aborts', async () => {
    const backend = local.backends['sluice-chat'];
    const controller = new AbortController();
    const input: InvocationInput = {
      endpoint: 'sluice-chat',
      variant: undefined,
      inferenceComponent: undefined,
      contentType: 'application/json',
      customAttributes: undefined,
      body: encoder.encode(JSON.stringify({ inputs: 'a', parameters: { max_new_tokens: 200 } })),
      signal: controller.signal,
    };
    const iterator = backend!.invokeStream(input)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    // Had the generation run ahead of the reader, the rest would still arrive after the abort.
    controller.abort();
    let rest = 0;
    while (!(await iterator.next()).done) rest++;
    expect(rest).toBeLessThanOrEqual(1);
  });

  it('answers an invalid request as the container would (ModelError with its 4xx)', async () => {
    const tooFew = await generate({ inputs: 'x', parameters: { max_new_tokens: 0 } }).catch(
      (e: unknown) => e,
    );
    expect(tooFew).toBeInstanceOf(ModelError);
    expect(tooFew).toMatchObject({ OriginalStatusCode: 422 });

    const tooLong = await generate({
      inputs: 'x',
      parameters: { max_new_tokens: local.info.contextSize + 1 },
    }).catch((e: unknown) => e);
    expect(tooLong).toMatchObject({ OriginalStatusCode: 422 });

    const notJson = await runtime
      .send(new InvokeEndpointCommand({ EndpointName: 'sluice-chat', Body: encoder.encode('{') }))
      .catch((e: unknown) => e);
    expect(notJson).toMatchObject({ name: 'ModelError', OriginalStatusCode: 400 });
  });

  it('embeds deterministically: one vector per input, in order, of the model dimension', async () => {
    const [a1] = await embed({ inputs: 'the quiet river' });
    const [a2] = await embed({ inputs: 'the quiet river' });
    const [b] = await embed({ inputs: 'an open window' });
    const batch = await embed({ inputs: ['an open window', 'the quiet river'] });

    expect(a1).toHaveLength(64);
    expect(a2).toEqual(a1);
    expect(b).not.toEqual(a1);
    expect(batch).toHaveLength(2);
    expect(batch[0]).toEqual(b);
    expect(batch[1]).toEqual(a1);
    const norm = Math.hypot(...(a1 ?? []));
    expect(norm).toBeCloseTo(1, 5);
  });

  it('returns raw vectors with normalize false and rejects an empty input', async () => {
    const [raw] = await embed({ inputs: 'the quiet river', normalize: false });
    expect(Math.hypot(...(raw ?? []))).not.toBeCloseTo(1, 3);
    const empty = await embed({ inputs: '' }).catch((e: unknown) => e);
    expect(empty).toMatchObject({ name: 'ModelError', OriginalStatusCode: 422 });
  });
});

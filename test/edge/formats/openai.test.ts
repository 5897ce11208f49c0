import { describe, expect, it } from 'vitest';
import type { GenerationRequest } from '../../../edge/formats/generation.js';
import { openAICodec } from '../../../edge/formats/openai.js';

const chat = (body: Record<string, unknown> = {}, choices = 1): GenerationRequest =>
  ({
    kind: 'chat',
    body: { messages: [{ role: 'user', content: 'hi' }], ...body },
    maxTokens: 32,
    choices,
  }) as GenerationRequest;

const codec = openAICodec({ modelId: 'm', upstreamModel: undefined });
const served = openAICodec({ modelId: 'm', upstreamModel: 'deepseek-r1' });

describe('openai codec: requests', () => {
  it('forwards the validated body with a bounded max_tokens and the served model name', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const body = served.encode(
      chat({ tools, tool_choice: 'required', response_format: { type: 'json_object' }, seed: 3 }),
      false,
    );
    expect(body).toEqual({
      model: 'deepseek-r1',
      messages: [{ role: 'user', content: 'hi' }],
      tools,
      tool_choice: 'required',
      response_format: { type: 'json_object' },
      seed: 3,
      max_tokens: 32,
    });
  });

  it('omits model when no served name is configured, and never sends max_completion_tokens', () => {
    const body = codec.encode(chat({ max_completion_tokens: 32 }), false) as Record<
      string,
      unknown
    >;
    expect(body).not.toHaveProperty('model');
    expect(body).not.toHaveProperty('max_completion_tokens');
    expect(body.max_tokens).toBe(32);
  });

  it('asks a stream for usage whatever the client asked, and drops platform-only fields and nulls', () => {
    const body = codec.encode(
      chat({
        store: false,
        metadata: { a: 'b' },
        service_tier: 'auto',
        temperature: null,
        user: 'u1',
      }),
      true,
    );
    expect(body).toEqual({
      messages: [{ role: 'user', content: 'hi' }],
      user: 'u1',
      max_tokens: 32,
      stream: true,
      stream_options: { include_usage: true },
    });
  });
});

describe('openai codec: answers', () => {
  const answer = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    id: 'upstream-id',
    object: 'chat.completion',
    model: '/opt/ml/model',
    prompt_logprobs: null,
    kv_transfer_params: null,
    choices: [{ index: 0, message, logprobs: null, finish_reason: 'stop', stop_reason: 128001 }],
    usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12, ...extra },
  });

  it('keeps content, tool calls, refusal and reasoning and drops what containers add', () => {
    const result = codec.decode(
      answer(
        {
          role: 'assistant',
          content: null,
          reasoning_content: 'because',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } },
          ],
        },
        { completion_tokens_details: { reasoning_tokens: 4 }, prompt_tokens_details: null },
      ),
      chat(),
    );
    expect(result).toEqual({
      choices: [
        {
          index: 0,
          content: null,
          refusal: null,
          reasoning: 'because',
          toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
          logprobs: null,
          finishReason: 'stop',
        },
      ],
      usage: { promptTokens: 5, completionTokens: 7, reasoningTokens: 4 },
    });
  });

  it("reads vLLM's newer `reasoning` name, and gives a tool call without an id one", () => {
    const result = codec.decode(
      answer({
        content: 'x',
        reasoning: 'r',
        tool_calls: [{ type: 'function', function: { name: 'f', arguments: { a: 1 } } }],
      }),
      chat(),
    );
    const choice = result.choices[0]!;
    expect(choice.reasoning).toBe('r');
    expect(choice.toolCalls![0]!.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(choice.toolCalls![0]!.function.arguments).toBe('{"a":1}');
  });

  it('fails an answer whose choice count differs from n, or that carries an error object', () => {
    expect(() => codec.decode(answer({ content: 'x' }), chat({}, 2))).toThrow(
      expect.objectContaining({ status: 502, code: 'choice_count_mismatch', origin: 'upstream' }),
    );
    expect(() =>
      codec.decode({ object: 'error', message: 'secret prompt text', code: 400 }, chat()),
    ).toThrow(expect.objectContaining({ code: 'model_error' }));
    expect(() => codec.decode({ choices: [{ index: 0 }] }, chat())).toThrow(
      expect.objectContaining({ code: 'bad_upstream_response' }),
    );
  });

  it('reads completion choices as text', () => {
    const completion = {
      kind: 'completion',
      body: { prompt: 'p' },
      maxTokens: 4,
      choices: 1,
    } as GenerationRequest;
    const result = codec.decode(
      {
        choices: [{ index: 0, text: 'abc', finish_reason: 'length', logprobs: { tokens: ['a'] } }],
      },
      completion,
    );
    expect(result.choices[0]).toEqual({
      index: 0,
      content: 'abc',
      logprobs: { tokens: ['a'] },
      finishReason: 'length',
    });
    expect(result.usage).toBeUndefined();
  });
});

describe('openai codec: streams', () => {
  it('names the role once per choice and finishes only when every choice has', () => {
    const decoder = codec.streamDecoder(chat({}, 2));
    const events = [
      { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { choices: [{ index: 1, delta: { content: 'b' } }] },
      { choices: [{ index: 0, delta: { content: 'a' } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 'length' }] },
    ];
    const chunks = events.map((e) => decoder.push(e));
    expect(chunks[0]).toEqual({ deltas: [{ index: 0, role: 'assistant' }] });
    expect(chunks[1]).toEqual({ deltas: [{ index: 1, role: 'assistant', content: 'b' }] });
    expect(chunks[2]).toEqual({ deltas: [{ index: 0, content: 'a' }] });
    expect(chunks[3]).toEqual({ deltas: [{ index: 0, finishReason: 'length' }] });
    expect(decoder.finished).toBe(false);
    decoder.push({ choices: [{ index: 1, delta: {}, finish_reason: 'stop' }] });
    expect(decoder.finished).toBe(true);
    expect(
      decoder.push({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } }),
    ).toEqual({ deltas: [], usage: { promptTokens: 1, completionTokens: 2 } });
  });

  it('passes tool-call deltas and reasoning deltas through unchanged', () => {
    const decoder = codec.streamDecoder(chat());
    const open = {
      index: 0,
      id: 'call_9',
      type: 'function',
      function: { name: 'f', arguments: '' },
    };
    const more = { index: 0, function: { arguments: '{"a":' } };
    expect(decoder.push({ choices: [{ index: 0, delta: { reasoning_content: 'hm' } }] })).toEqual({
      deltas: [{ index: 0, role: 'assistant', reasoning: 'hm' }],
    });
    expect(decoder.push({ choices: [{ index: 0, delta: { tool_calls: [open] } }] })).toEqual({
      deltas: [{ index: 0, toolCalls: [open] }],
    });
    expect(
      decoder.push({
        choices: [{ index: 0, delta: { tool_calls: [more] }, finish_reason: 'tool_calls' }],
      }),
    ).toEqual({ deltas: [{ index: 0, toolCalls: [more], finishReason: 'tool_calls' }] });
    expect(decoder.finished).toBe(true);
  });

  it('fails on an error event, a choice beyond n and an event that is not an object', () => {
    const decoder = codec.streamDecoder(chat());
    expect(() => decoder.push({ error: { message: 'CUDA out of memory' } })).toThrow(
      expect.objectContaining({ code: 'model_stream_error' }),
    );
    expect(() => decoder.push({ choices: [{ index: 1, delta: { content: 'x' } }] })).toThrow(
      expect.objectContaining({ code: 'choice_count_mismatch' }),
    );
    expect(() => decoder.push('data')).toThrow(
      expect.objectContaining({ code: 'bad_upstream_response' }),
    );
  });
});

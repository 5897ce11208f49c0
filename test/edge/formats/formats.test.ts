import { describe, expect, it } from 'vitest';
import { renderChat } from '../../../edge/formats/chat-template.js';
import { parseTeiResponse } from '../../../edge/formats/tei.js';
import type { GenerationRequest } from '../../../edge/formats/generation.js';
import { parseTgiResponse, parseTgiStreamEvent, tgiCodec } from '../../../edge/formats/tgi.js';

const request = (body: Record<string, unknown>): GenerationRequest => ({
  kind: 'completion',
  body: { prompt: 'p', ...body },
  maxTokens: 8,
  choices: 1,
});
const codec = tgiCodec({ modelId: 'm', chatTemplate: 'chatml' });

describe('TGI generation schema', () => {
  it('asks for greedy decoding at temperature 0 and sampling above it', () => {
    expect(codec.encode(request({ temperature: 0 }), false)).toEqual({
      inputs: 'p',
      parameters: { max_new_tokens: 8, details: true, do_sample: false },
    });
    expect(
      codec.encode(request({ temperature: 0.7, top_p: 0.9, stop: ['\n'], seed: 3 }), true),
    ).toEqual({
      inputs: 'p',
      parameters: {
        max_new_tokens: 8,
        details: true,
        do_sample: true,
        temperature: 0.7,
        top_p: 0.9,
        stop: ['\n'],
        seed: 3,
      },
      stream: true,
    });
  });

  it("renders chat messages with the model's template", () => {
    const chat: GenerationRequest = {
      kind: 'chat',
      body: {
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        temperature: 0,
      },
      maxTokens: 4,
      choices: 1,
    };
    expect(codec.encode(chat, false)).toMatchObject({
      inputs: '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    });
  });

  it('reads both the TGI array and the LMI object answer', () => {
    const details = { finish_reason: 'length', generated_tokens: 4, prompt_tokens: 2 };
    const expected = {
      choices: [{ index: 0, content: 'hi', logprobs: null, finishReason: 'length' }],
      usage: { promptTokens: 2, completionTokens: 4 },
    };
    expect(parseTgiResponse([{ generated_text: 'hi', details }], 'm')).toEqual(expected);
    expect(parseTgiResponse({ generated_text: 'hi', details }, 'm')).toEqual(expected);
    expect(parseTgiResponse({ generated_text: 'hi' }, 'm')).toEqual({
      choices: [{ index: 0, content: 'hi', logprobs: null, finishReason: 'stop' }],
      usage: undefined,
    });
  });

  it('rejects an answer without generated_text as a 502', () => {
    expect(() => parseTgiResponse([{ text: 'x' }], 'm')).toThrow(
      expect.objectContaining({ status: 502, code: 'bad_upstream_response' }),
    );
  });

  it('reads token events, skips special tokens and takes usage from the closing event', () => {
    expect(parseTgiStreamEvent({ token: { text: 'a', special: false } }, 'm')).toEqual({
      text: 'a',
    });
    expect(
      parseTgiStreamEvent(
        {
          token: { text: '</s>', special: true },
          details: { finish_reason: 'eos_token', generated_tokens: 2 },
        },
        'm',
      ),
    ).toEqual({
      text: '',
      finishReason: 'stop',
      usage: { promptTokens: 0, completionTokens: 2 },
    });
    expect(() => parseTgiStreamEvent({ error: 'CUDA OOM' }, 'm')).toThrow(
      expect.objectContaining({ code: 'model_stream_error' }),
    );
    expect(() => parseTgiStreamEvent({ nothing: 1 }, 'm')).toThrow(
      expect.objectContaining({ code: 'bad_upstream_response' }),
    );
  });
});

describe('TEI embedding schema', () => {
  it('accepts exactly one numeric vector per input', () => {
    expect(
      parseTeiResponse(
        [
          [1, 2],
          [3, 4],
        ],
        2,
        'm',
      ),
    ).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(() => parseTeiResponse([[1, 2]], 2, 'm')).toThrow(
      expect.objectContaining({ code: 'batch_size_mismatch' }),
    );
    expect(() => parseTeiResponse([[1, 'x']], 1, 'm')).toThrow(
      expect.objectContaining({ code: 'bad_upstream_response' }),
    );
    expect(() => parseTeiResponse({ embeddings: [] }, 1, 'm')).toThrow(
      expect.objectContaining({ status: 502 }),
    );
  });
});

describe('chat templates', () => {
  const messages = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'Hi' },
    { role: 'assistant' as const, content: 'Hello' },
    { role: 'user' as const, content: 'Bye' },
  ];
  it('renders DeepSeek turns with the system prompt first, ending at the assistant turn', () => {
    expect(renderChat(messages, 'deepseek')).toBe(
      '<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜>',
    );
  });
  it('renders ChatML', () => {
    expect(renderChat(messages.slice(0, 2), 'chatml')).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

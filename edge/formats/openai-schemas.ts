import { z } from 'zod';

/**
 * Request bodies of the OpenAI API routes Sluice serves. Bodies are strict: a field Sluice does
 * not know is a 400 that names it, so a client never gets a 200 for a request whose meaning was
 * silently changed. Limits that depend on the model (max_tokens, `n`, which optional parameters
 * it allows, images) are checked after the model is resolved (`edge/routes/generation-request.ts`).
 */

const model = z
  .string({
    error: (i) => (i.input === undefined ? 'model is required' : 'model must be a string'),
  })
  .min(1, 'model must not be empty')
  .max(256);

/** OpenAI's rule for function and schema names. */
const identifier = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1–64 letters, digits, underscores or dashes');

/** A JSON Schema object; its meaning is the container's (grammar-constrained decoding). */
const jsonSchema = z.record(z.string(), z.unknown());

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    url: z.string().min(1).max(20_000_000),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
});
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

const partsOf = <T extends z.ZodType>(part: T, what: string) =>
  z.union([z.string(), z.array(part).min(1).max(256)], {
    error: `content must be a string or an array of ${what}`,
  });

const textContent = partsOf(textPart, 'text parts');
const userContent = partsOf(
  z.discriminatedUnion('type', [textPart, imagePart], {
    error: 'content parts must be of type text or image_url',
  }),
  'text and image_url parts',
);
const assistantContent = partsOf(
  z.discriminatedUnion('type', [textPart, refusalPart], {
    error: 'assistant content parts must be of type text or refusal',
  }),
  'text and refusal parts',
);

const messageName = z.string().max(256).optional();

export const toolCallSchema = z.strictObject({
  id: z.string().min(1).max(256),
  type: z.literal('function'),
  function: z.strictObject({ name: identifier, arguments: z.string().max(1_000_000) }),
});

/**
 * Fields OpenAI SDKs copy into a message when an application appends a response's message to the
 * next request. They carry nothing when null, so null is accepted; a value is refused.
 */
const echoedNulls = {
  audio: z.null({ error: 'audio is not supported' }).optional(),
  function_call: z.null({ error: 'function_call is not supported; use tool_calls' }).optional(),
  annotations: z.array(z.unknown()).max(0, 'annotations are not supported').optional(),
};

export const chatMessageSchema = z.discriminatedUnion(
  'role',
  [
    z.strictObject({ role: z.literal('system'), content: textContent, name: messageName }),
    z.strictObject({ role: z.literal('developer'), content: textContent, name: messageName }),
    z.strictObject({ role: z.literal('user'), content: userContent, name: messageName }),
    z.strictObject({
      role: z.literal('assistant'),
      content: assistantContent.nullable().optional(),
      name: messageName,
      refusal: z.string().nullable().optional(),
      tool_calls: z.array(toolCallSchema).max(128).nullable().optional(),
      ...echoedNulls,
    }),
    z.strictObject({
      role: z.literal('tool'),
      content: textContent,
      tool_call_id: z.string().min(1).max(256),
    }),
  ],
  { error: 'role must be one of system, developer, user, assistant, tool' },
);

export const toolSchema = z.strictObject({
  type: z.literal('function', { error: "tools must be of type 'function'" }),
  function: z.strictObject({
    name: identifier,
    description: z.string().max(16_384).optional(),
    parameters: jsonSchema.optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoice = z.union(
  [
    z.enum(['none', 'auto', 'required']),
    z.strictObject({
      type: z.literal('function'),
      function: z.strictObject({ name: identifier }),
    }),
  ],
  { error: "tool_choice must be 'none', 'auto', 'required' or a named function" },
);

const responseFormat = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({ type: z.literal('json_object') }),
    z.strictObject({
      type: z.literal('json_schema'),
      json_schema: z.strictObject({
        name: identifier,
        description: z.string().max(16_384).optional(),
        schema: jsonSchema.optional(),
        strict: z.boolean().nullable().optional(),
      }),
    }),
  ],
  { error: 'response_format.type must be text, json_object or json_schema' },
);

const stop = z
  .union([z.string().min(1), z.array(z.string().min(1)).max(4)])
  .nullable()
  .optional();

/** Token id → bias, as OpenAI bounds it (-100 to 100). */
const logitBias = z
  .record(
    z.string().regex(/^\d{1,9}$/, 'logit_bias keys must be token ids'),
    z.number().min(-100).max(100),
  )
  .refine((r) => Object.keys(r).length <= 1024, 'logit_bias holds at most 1024 tokens')
  .nullable()
  .optional();

/**
 * Accepted, never forwarded: they concern OpenAI's own platform (storage, billing tier, its
 * prompt cache and abuse tracking) and change nothing about the answer.
 */
const platformOnly = {
  store: z.literal(false, { error: 'store: true is not supported' }).nullable().optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
  service_tier: z.enum(['auto', 'default']).nullable().optional(),
  prompt_cache_key: z.string().max(256).optional(),
  safety_identifier: z.string().max(256).optional(),
};

/** Fields that shape the answer; the same set for chat and text completions. */
const sampling = {
  model,
  max_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  stop,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: logitBias,
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  user: z.string().max(256).optional(),
  ...platformOnly,
};

export const chatCompletionSchema = z
  .strictObject({
    ...sampling,
    messages: z
      .array(chatMessageSchema)
      .min(1, 'messages must hold at least one message')
      .max(1024),
    max_completion_tokens: z.number().int().min(1).nullable().optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    tools: z.array(toolSchema).max(1024).optional(),
    tool_choice: toolChoice.optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: responseFormat.optional(),
    reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.top_logprobs != null && body.logprobs !== true) {
      ctx.addIssue({
        code: 'custom',
        message: 'top_logprobs requires logprobs: true',
        path: ['top_logprobs'],
      });
    }
    if (body.max_tokens != null && body.max_completion_tokens != null) {
      ctx.addIssue({
        code: 'custom',
        message: 'give max_completion_tokens or max_tokens, not both',
        path: ['max_tokens'],
      });
    }
    const choice = body.tool_choice;
    const names = new Set((body.tools ?? []).map((t) => t.function.name));
    if (body.tools && names.size !== body.tools.length) {
      ctx.addIssue({ code: 'custom', message: 'tool names must be unique', path: ['tools'] });
    }
    if (typeof choice === 'object' && !names.has(choice.function.name)) {
      ctx.addIssue({
        code: 'custom',
        message: `names a function that is not in tools`,
        path: ['tool_choice', 'function', 'name'],
      });
    }
    if (choice === 'required' && names.size === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'tool_choice required needs tools',
        path: ['tool_choice'],
      });
    }
    if (body.parallel_tool_calls !== undefined && !body.tools) {
      ctx.addIssue({
        code: 'custom',
        message: 'parallel_tool_calls needs tools',
        path: ['parallel_tool_calls'],
      });
    }
  });

export const completionSchema = z.strictObject({
  ...sampling,
  prompt: z.union(
    [z.string(), z.array(z.string()).length(1, 'only one prompt per request is supported')],
    {
      error: 'prompt must be a string',
    },
  ),
  /** Completions' logprobs is the number of alternatives per token, 0–5. */
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
  echo: z.literal(false, { error: 'echo is not supported' }).nullable().optional(),
  best_of: z.literal(1, { error: 'only best_of=1 is supported' }).nullable().optional(),
  suffix: z.null({ error: 'suffix is not supported' }).optional(),
});

export const embeddingSchema = z.strictObject({
  model,
  input: z.union([z.string(), z.array(z.string()).min(1, 'input must not be an empty list')], {
    error: 'input must be a string or an array of strings (token arrays are not supported)',
  }),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().max(256).optional(),
});

export type ChatCompletionBody = z.infer<typeof chatCompletionSchema>;
export type CompletionBody = z.infer<typeof completionSchema>;
export type EmbeddingBody = z.infer<typeof embeddingSchema>;
export type ChatMessageBody = z.infer<typeof chatMessageSchema>;
export type ToolCall = z.infer<typeof toolCallSchema>;

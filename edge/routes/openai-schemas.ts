import { z } from 'zod';

/**
 * Request bodies of the OpenAI API routes Sluice serves. Unknown fields are ignored (clients
 * send many optional ones); known fields are checked for type and range. Limits that depend
 * on the model (max_tokens, input counts) are checked after the model is resolved.
 */

const model = z
  .string({
    error: (i) => (i.input === undefined ? 'model is required' : 'model must be a string'),
  })
  .min(1, 'model must not be empty')
  .max(256);

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const content = z.union([z.string(), z.array(textPart).min(1)], {
  error: 'content must be a string or an array of text parts',
});

export const chatMessageSchema = z.discriminatedUnion(
  'role',
  [
    z.object({ role: z.literal('system'), content, name: z.string().max(256).optional() }),
    z.object({ role: z.literal('developer'), content, name: z.string().max(256).optional() }),
    z.object({ role: z.literal('user'), content, name: z.string().max(256).optional() }),
    z.object({
      role: z.literal('assistant'),
      content: content.nullable().optional(),
      name: z.string().max(256).optional(),
    }),
    z.object({ role: z.literal('tool'), content, tool_call_id: z.string().max(256) }),
  ],
  { error: 'role must be one of system, developer, user, assistant, tool' },
);

const stop = z
  .union([z.string().min(1), z.array(z.string().min(1)).max(4)])
  .nullable()
  .optional();

const sampling = {
  model,
  max_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  n: z.literal(1, { error: 'only n=1 is supported' }).nullable().optional(),
  stop,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  user: z.string().max(256).optional(),
};

export const chatCompletionSchema = z.object({
  ...sampling,
  messages: z.array(chatMessageSchema).min(1, 'messages must hold at least one message').max(1024),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  logprobs: z.literal(false, { error: 'logprobs is not supported' }).nullable().optional(),
  tools: z.array(z.unknown()).max(0, 'tools are not supported').optional(),
});

export const completionSchema = z.object({
  ...sampling,
  prompt: z.union(
    [z.string(), z.array(z.string()).length(1, 'only one prompt per request is supported')],
    {
      error: 'prompt must be a string',
    },
  ),
  echo: z.literal(false, { error: 'echo is not supported' }).nullable().optional(),
  logprobs: z.null({ error: 'logprobs is not supported' }).optional(),
  best_of: z.literal(1, { error: 'only best_of=1 is supported' }).nullable().optional(),
  suffix: z.null({ error: 'suffix is not supported' }).optional(),
});

export const embeddingSchema = z.object({
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

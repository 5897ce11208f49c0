import { z } from 'zod';
import { EndpointFault } from '../endpoint/backend.js';
import { checkTgiRequest, type TgiRequest } from './tgi.js';

/**
 * The OpenAI chat and text completion schemas as vLLM, LMI and SGLang containers take them on
 * `/invocations`. Unknown fields are ignored, as those containers do; `stream` is ignored too:
 * `InvokeEndpointWithResponseStream` streams and `InvokeEndpoint` does not, whatever it says.
 */

const textPart = z.object({ type: z.literal('text'), text: z.string() });
/** A message body: a string, or text parts (no images: the local model reads text only). */
const content = z.union([z.string(), z.array(textPart).max(64)]);

const toolCall = z.object({
  id: z.string(),
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.object({ role: z.enum(['system', 'developer']), content }),
  z.object({ role: z.literal('user'), content }),
  z.object({
    role: z.literal('assistant'),
    content: content.nullish(),
    tool_calls: z.array(toolCall).max(64).optional(),
  }),
  z.object({ role: z.literal('tool'), content, tool_call_id: z.string() }),
]);

const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must match ^[a-zA-Z0-9_-]{1,64}$');
const jsonSchema = z.record(z.string(), z.unknown());

const tool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: toolName,
    description: z.string().max(4096).optional(),
    parameters: jsonSchema.optional(),
    strict: z.boolean().nullish(),
  }),
});

const stop = z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(16)]);
const seed = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);

/** Sampling fields both APIs share. */
const sampling = {
  model: z.string().optional(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  /** vLLM's extension; -1 or 0 means no top-k cut. */
  top_k: z.number().int().min(-1).nullish(),
  seed: seed.nullish(),
  stop: stop.nullish(),
  n: z.number().int().min(1).max(8).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
};

export const chatRequestSchema = z
  .object({
    ...sampling,
    messages: z.array(message).min(1).max(1024),
    max_completion_tokens: z.number().int().min(1).nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    response_format: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('text') }),
        z.object({ type: z.literal('json_object') }),
        z.object({
          type: z.literal('json_schema'),
          json_schema: z.object({
            name: z.string().max(64),
            description: z.string().optional(),
            schema: jsonSchema.optional(),
            strict: z.boolean().nullish(),
          }),
        }),
      ])
      .nullish(),
    tools: z.array(tool).max(128).nullish(),
    tool_choice: z
      .union([
        z.enum(['none', 'auto', 'required']),
        z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
      ])
      .nullish(),
  })
  .superRefine((request, issues) => {
    if (request.top_logprobs != null && request.top_logprobs > 0 && request.logprobs !== true) {
      issues.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'requires logprobs' });
    }
    const choice = request.tool_choice;
    const names = new Set(request.tools?.map((t) => t.function.name) ?? []);
    if ((choice === 'required' || typeof choice === 'object') && names.size === 0) {
      issues.addIssue({ code: 'custom', path: ['tool_choice'], message: 'requires tools' });
    }
    if (typeof choice === 'object' && choice !== null && !names.has(choice.function.name)) {
      issues.addIssue({
        code: 'custom',
        path: ['tool_choice', 'function', 'name'],
        message: `names no tool in tools: ${choice.function.name}`,
      });
    }
  });

export const completionRequestSchema = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(8)]),
  /** The legacy completions API: how many alternatives per token, up to 5. */
  logprobs: z.number().int().min(0).max(5).nullish(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = ChatRequest['messages'][number];
export type ChatTool = NonNullable<ChatRequest['tools']>[number];
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** What one `/invocations` body asks for, told apart by its shape as LMI does. */
export type InvocationRequest =
  | { kind: 'chat'; request: ChatRequest }
  | { kind: 'completion'; request: CompletionRequest }
  | { kind: 'tgi'; request: TgiRequest };

const decoder = new TextDecoder();

function check<T>(schema: z.ZodType<T>, json: unknown): T {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.join('.') || '(body)';
  // vLLM answers a request it cannot validate with 400 (TGI with 422, see tgi.ts).
  throw new EndpointFault('model', `Invalid request: ${where}: ${issue?.message}`, 400);
}

/**
 * Parses an `/invocations` body: `messages` → chat completion, `prompt` → text completion,
 * `inputs` → the TGI schema. Anything else is a 400, as is a body that is not JSON.
 */
export function parseInvocation(body: Uint8Array): InvocationRequest {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    throw new EndpointFault('model', 'Failed to parse the request body as JSON', 400);
  }
  const has = (key: string) =>
    typeof json === 'object' && json !== null && !Array.isArray(json) && key in json;
  if (has('messages')) return { kind: 'chat', request: check(chatRequestSchema, json) };
  if (has('prompt')) return { kind: 'completion', request: check(completionRequestSchema, json) };
  if (has('inputs')) return { kind: 'tgi', request: checkTgiRequest(json) };
  throw new EndpointFault(
    'model',
    'Invalid request: the body needs `messages` (chat), `prompt` (completion) or `inputs` (TGI)',
    400,
  );
}

/** Text of a message body; parts are joined as vLLM joins them. */
export const contentText = (value: z.infer<typeof content> | null | undefined): string =>
  value == null ? '' : typeof value === 'string' ? value : value.map((p) => p.text).join('\n');

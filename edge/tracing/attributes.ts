import { SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import { GatewayError, toGatewayError } from '../../shared/errors.js';
import type { ModelConfig } from '../../shared/config/schema.js';
import type { TargetRuntime } from '../models/registry.js';
import type {
  Choice,
  FinishReason,
  GenerationRequest,
  GenerationResult,
  Usage,
} from '../formats/generation.js';
import type { ChatCompletionBody } from '../formats/openai-schemas.js';

/**
 * Attribute names and values of the OpenTelemetry GenAI semantic conventions (v1.37 and later:
 * `gen_ai.provider.name`, which replaced `gen_ai.system`; content in `gen_ai.input.messages` and
 * `gen_ai.output.messages`), and Sluice's own `sluice.*` attributes for what they do not cover.
 */
export const GEN_AI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  maxTokens: 'gen_ai.request.max_tokens',
  temperature: 'gen_ai.request.temperature',
  topP: 'gen_ai.request.top_p',
  frequencyPenalty: 'gen_ai.request.frequency_penalty',
  presencePenalty: 'gen_ai.request.presence_penalty',
  seed: 'gen_ai.request.seed',
  stopSequences: 'gen_ai.request.stop_sequences',
  choiceCount: 'gen_ai.request.choice.count',
  responseId: 'gen_ai.response.id',
  responseModel: 'gen_ai.response.model',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  inputMessages: 'gen_ai.input.messages',
  outputMessages: 'gen_ai.output.messages',
  dimensions: 'gen_ai.embeddings.dimension.count',
} as const;

/** SageMaker is not among the conventions' well-known providers; this is its custom value. */
export const PROVIDER = 'aws.sagemaker';

/** The conventions' operation names for the three generation routes. */
export type GenAIOperation = 'chat' | 'text_completion' | 'embeddings';

/** What the route knows about a request once it is validated. */
export interface RequestDescription {
  operation: GenAIOperation;
  model: ModelConfig;
  /** The generation request; absent for embeddings. */
  request?: GenerationRequest;
  /** The `id` of the response body (`chatcmpl-…`, `cmpl-…`). */
  responseId?: string;
}

/** `gen_ai.request.*` of a request: its model and the sampling parameters it set. */
export const requestAttributes = (d: RequestDescription): Attributes => {
  const attributes: Attributes = {
    [GEN_AI.operation]: d.operation,
    [GEN_AI.provider]: PROVIDER,
    [GEN_AI.requestModel]: d.model.id,
  };
  if (d.responseId) attributes[GEN_AI.responseId] = d.responseId;
  if (d.model.kind === 'embedding' && d.model.dimensions !== undefined) {
    attributes[GEN_AI.dimensions] = d.model.dimensions;
  }
  const request = d.request;
  if (!request) return attributes;
  const body = request.body;
  attributes[GEN_AI.maxTokens] = request.maxTokens;
  if (request.choices !== 1) attributes[GEN_AI.choiceCount] = request.choices;
  setNumber(attributes, GEN_AI.temperature, body.temperature);
  setNumber(attributes, GEN_AI.topP, body.top_p);
  setNumber(attributes, GEN_AI.frequencyPenalty, body.frequency_penalty);
  setNumber(attributes, GEN_AI.presencePenalty, body.presence_penalty);
  setNumber(attributes, GEN_AI.seed, body.seed);
  // Stop sequences are the client's text too: kept with the content, not by default.
  return attributes;
};

/** `gen_ai.response.*` and `gen_ai.usage.*` of a finished generation. */
export const responseAttributes = (
  model: ModelConfig,
  finishReasons: readonly FinishReason[],
  usage: Usage | undefined,
): Attributes => ({
  [GEN_AI.responseModel]: model.id,
  [GEN_AI.finishReasons]: [...finishReasons],
  ...(usage
    ? { [GEN_AI.inputTokens]: usage.promptTokens, [GEN_AI.outputTokens]: usage.completionTokens }
    : {}),
});

/** Where the upstream call went: the target and the SageMaker Runtime operation. */
export const upstreamAttributes = (
  model: ModelConfig,
  target: TargetRuntime,
  operation: GenAIOperation,
  stream: boolean,
): Attributes => ({
  [GEN_AI.operation]: operation,
  [GEN_AI.provider]: PROVIDER,
  [GEN_AI.requestModel]: model.upstreamModel ?? model.id,
  'rpc.system': 'aws-api',
  'rpc.service': 'SageMaker Runtime',
  'rpc.method': stream ? 'InvokeEndpointWithResponseStream' : 'InvokeEndpoint',
  'sluice.model': model.id,
  'sluice.target.id': target.id,
  'sluice.target.endpoint': target.endpoint,
  ...(target.variant ? { 'sluice.target.variant': target.variant } : {}),
  ...(target.inferenceComponent
    ? { 'sluice.target.inference_component': target.inferenceComponent }
    : {}),
});

/** The operation a model's upstream call performs when no request says otherwise. */
export const operationOf = (model: ModelConfig): GenAIOperation =>
  model.kind === 'embedding' ? 'embeddings' : model.kind === 'chat' ? 'chat' : 'text_completion';

/**
 * Marks a span failed with the error's stable code as `error.type`; never its message, which can
 * quote the container's input. A client error (4xx, a caller that left) is recorded but leaves
 * the span's status unset: it is not the server's failure.
 */
export const failed = (span: Span, error: unknown): void => {
  const gatewayError = toGatewayError(error);
  span.setAttribute('error.type', gatewayError.code);
  if (error instanceof GatewayError && gatewayError.status < 500) return;
  span.setStatus({ code: SpanStatusCode.ERROR });
};

const setNumber = (attributes: Attributes, key: string, value: number | null | undefined) => {
  if (typeof value === 'number') attributes[key] = value;
};

// Content, recorded only with the explicit option (`recordContent`).

type Part =
  | { type: 'text'; content: string }
  | { type: 'reasoning'; content: string }
  | { type: 'tool_call'; id: string; name: string; arguments: unknown }
  | { type: 'tool_call_response'; id: string; response: string };

interface Message {
  role: string;
  parts: Part[];
  finish_reason?: string;
}

type ChatMessage = ChatCompletionBody['messages'][number];

/** `gen_ai.input.messages`: the prompt in the conventions' message shape, as JSON. */
export const inputMessages = (request: GenerationRequest): string => {
  if (request.kind === 'completion') {
    const prompt = request.body.prompt;
    const text = typeof prompt === 'string' ? prompt : prompt.join('');
    return JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: text }] }]);
  }
  return JSON.stringify(request.body.messages.map(chatMessage));
};

const chatMessage = (m: ChatMessage): Message => {
  if (m.role === 'tool') {
    return {
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: m.tool_call_id, response: textOf(m.content) }],
    };
  }
  const parts: Part[] = [];
  const text = textOf(m.content);
  if (text) parts.push({ type: 'text', content: text });
  if (m.role === 'assistant') {
    for (const call of m.tool_calls ?? []) {
      parts.push({
        type: 'tool_call',
        id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
      });
    }
  }
  return { role: m.role, parts };
};

/** Text of a message's content; image parts are left out (data URLs can be megabytes). */
const textOf = (content: ChatMessage['content']): string => {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((p) => (p.type === 'text' ? p.text : p.type === 'refusal' ? p.refusal : ''))
    .join('');
};

/** `gen_ai.output.messages`: one assistant message per choice, as JSON. */
export const outputMessages = (choices: readonly OutputChoice[]): string =>
  JSON.stringify(
    choices.map((c) => {
      const parts: Part[] = [];
      if (c.reasoning) parts.push({ type: 'reasoning', content: c.reasoning });
      if (c.content) parts.push({ type: 'text', content: c.content });
      for (const call of c.toolCalls ?? []) {
        parts.push({
          type: 'tool_call',
          id: call.id,
          name: call.function.name,
          arguments: call.function.arguments,
        });
      }
      return { role: 'assistant', parts, finish_reason: c.finishReason };
    }),
  );

/** What the output messages are made of: a finished choice, or one assembled from a stream. */
export type OutputChoice = Pick<Choice, 'content' | 'reasoning' | 'toolCalls'> & {
  finishReason: FinishReason | undefined;
};

/** Finish reasons of a result's choices, in choice order. */
export const finishReasonsOf = (result: GenerationResult): FinishReason[] =>
  [...result.choices].sort((a, b) => a.index - b.index).map((c) => c.finishReason);

import {
  LlamaText,
  SpecialToken,
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelFunctions,
  type ChatWrapper,
  type GbnfJsonSchema,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { contentText, type ChatMessage } from './openai-request.js';

/** A chat rendered by a node-llama-cpp chat wrapper, ready to generate the assistant's turn. */
export interface ChatPrompt {
  tokens: Token[];
  /** The wrapper's plain-text stop triggers (`<|im_end|>`); end-of-generation tokens stop anyway. */
  stops: string[];
  /** Tokens that open a call of `name` in the wrapper's syntax, up to where arguments start. */
  callOf(name: string): Token[];
  /** Tokens that open a call before its name (`||call: `). */
  callPrefix: Token[];
  /** Tokens between a function's name and its arguments (`(`). */
  paramsPrefix: Token[];
}

const parseMaybeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/**
 * OpenAI messages as node-llama-cpp chat history: an assistant's `tool_calls` become function
 * calls whose results are the `tool` messages that answer them, as the wrapper renders them.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const calls = new Map<string, ChatModelFunctionCall>();
  for (const message of messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        history.push({ type: 'system', text: contentText(message.content) });
        break;
      case 'user':
        history.push({ type: 'user', text: contentText(message.content) });
        break;
      case 'assistant': {
        const response: Array<string | ChatModelFunctionCall> = [];
        const text = contentText(message.content);
        if (text !== '') response.push(text);
        for (const call of message.tool_calls ?? []) {
          const item: ChatModelFunctionCall = {
            type: 'functionCall',
            name: call.function.name,
            params: parseMaybeJson(call.function.arguments),
            result: null,
          };
          calls.set(call.id, item);
          response.push(item);
        }
        history.push({ type: 'model', response });
        break;
      }
      case 'tool': {
        const call = calls.get(message.tool_call_id);
        // A result for a call the history does not hold is shown to the model as user text.
        if (call) call.result = parseMaybeJson(contentText(message.content));
        else history.push({ type: 'user', text: contentText(message.content) });
        break;
      }
    }
  }
  history.push({ type: 'model', response: [] });
  return history;
}

/** Plain text of a stop trigger; undefined for one that names a special token (EOS, EOT). */
function triggerText(trigger: LlamaText): string | undefined {
  if (trigger.values.some((value) => value instanceof SpecialToken)) return undefined;
  return trigger.values.map((value) => (typeof value === 'string' ? value : value.value)).join('');
}

/** Renders `messages` (and the tools offered, if any) with `wrapper`. */
export function renderChat(
  model: LlamaModel,
  wrapper: ChatWrapper,
  messages: readonly ChatMessage[],
  functions: ChatModelFunctions | undefined,
): ChatPrompt {
  const state = wrapper.generateContextState({
    chatHistory: toChatHistory(messages),
    ...(functions && { availableFunctions: functions }),
  });
  const call = wrapper.settings.functions.call;
  const tokenize = (text: LlamaText) => text.tokenize(model.tokenizer);
  return {
    tokens: tokenize(state.contextText),
    stops: state.stopGenerationTriggers
      .map(triggerText)
      .filter((s): s is string => s !== undefined && s !== ''),
    callOf: (name) =>
      tokenize(LlamaText([state.contextText, call.prefix, name, call.paramsPrefix])),
    callPrefix: tokenize(LlamaText([state.contextText, call.prefix])),
    paramsPrefix: tokenize(LlamaText(call.paramsPrefix)),
  };
}

/** The tools as node-llama-cpp function definitions, parameters as grammar schemas. */
export function toFunctions(
  tools: ReadonlyArray<{ name: string; description?: string | undefined; params: GbnfJsonSchema }>,
): ChatModelFunctions {
  return Object.fromEntries(
    tools.map((tool) => [
      tool.name,
      {
        ...(tool.description !== undefined && { description: tool.description }),
        params: tool.params,
      },
    ]),
  );
}

import type {
  ChatWrapper,
  Llama,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  SequenceEvaluateOptions,
  Token,
} from 'node-llama-cpp';
import { randomUUID } from 'node:crypto';
import { EndpointFault } from '../endpoint/backend.js';
import { renderChat, toFunctions } from './chat-prompt.js';
import { decode, type TokenLogprob } from './decode.js';
import {
  GrammarCache,
  boundedJsonObjectGbnf,
  nameChoiceGbnf,
  reasoningGbnf,
  toGrammarSchema,
  type JsonBound,
} from './grammars.js';
import type { ChatRequest, CompletionRequest } from './openai-request.js';

/** A context sequence held for one choice; `release` gives it back. */
export interface SequenceLease {
  sequence: LlamaContextSequence;
  release(): void;
}

export interface OpenAiModelOptions {
  llama: Llama;
  model: LlamaModel;
  /** Renders chats; node-llama-cpp's `ChatMLChatWrapper` for the stand-in. */
  chatWrapper: ChatWrapper;
  /** Waits for a free sequence (the container's admission). */
  lease(signal: AbortSignal): Promise<SequenceLease>;
  /** Tokens per sequence: prompt plus completion must fit. */
  contextSize: number;
  /** `max_tokens` when a request names none (capped by what is left of the context). */
  defaultMaxTokens: number;
  /** `model` in responses when the request names none. */
  modelName: string;
  /** Narrow JSON grammars so a model that never closes a string still ends (the stand-in). */
  jsonBound?: JsonBound | undefined;
  /** Force `<think>…</think>answer` with a grammar (a stand-in for a reasoning model). */
  reasoningGrammar?: boolean;
}

type FinishReason = 'stop' | 'length' | 'tool_calls';

/** What one choice produces, in order; `end` comes last unless the caller went away. */
export type ChoiceEvent =
  | { type: 'text'; text: string; logprobs: TokenLogprob[] }
  | { type: 'tool'; id: string; name: string }
  | { type: 'arguments'; text: string; logprobs: TokenLogprob[] }
  | { type: 'end'; reason: FinishReason; tokens: number };

/** How one request's choices are generated. */
interface Plan {
  prompt: Token[];
  maxTokens: number;
  stops: string[];
  grammar: LlamaGrammar | undefined;
  topLogprobs: number | undefined;
  penalties: { presence: number; frequency: number } | undefined;
  sampling(index: number): SequenceEvaluateOptions;
  tool?: {
    /** The forced tool, or undefined to let the model pick one of `names`. */
    name: string | undefined;
    names: string[];
    callOf(name: string): Token[];
    callPrefix: Token[];
    paramsPrefix: Token[];
    argumentsGrammar(name: string): Promise<LlamaGrammar>;
  };
}

interface SamplingFields {
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  top_k?: number | null | undefined;
  seed?: number | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
}

/** OpenAI's default temperature is 1; 0 is greedy. Choice `i` samples with `seed + i`. */
function sampler(request: SamplingFields): (index: number) => SequenceEvaluateOptions {
  const temperature = request.temperature ?? 1;
  if (temperature === 0) return () => ({ temperature: 0 });
  const seed = request.seed ?? Math.floor(Math.random() * 2 ** 31);
  return (index) => ({
    temperature,
    topP: request.top_p ?? 1,
    topK: request.top_k != null && request.top_k > 0 ? request.top_k : 0,
    seed: (seed + index) % 2 ** 32,
  });
}

function penaltiesOf(request: SamplingFields): Plan['penalties'] {
  const presence = request.presence_penalty ?? 0;
  const frequency = request.frequency_penalty ?? 0;
  return presence === 0 && frequency === 0 ? undefined : { presence, frequency };
}

const stopsOf = (stop: string | string[] | null | undefined): string[] =>
  stop == null ? [] : typeof stop === 'string' ? [stop] : stop;

/**
 * OpenAI chat and text completions on a node-llama-cpp model, as vLLM serves them on
 * `/invocations`: whole responses, and event streams of chunks for `invokeStream`.
 */
export class OpenAiModel {
  private readonly grammars: GrammarCache;

  constructor(private readonly options: OpenAiModelOptions) {
    this.grammars = new GrammarCache(options.llama);
  }

  /** The prompt plus completion must fit one sequence, as vLLM checks it (400). */
  private budget(promptTokens: number, maxTokens: number | null | undefined): number {
    const { contextSize, defaultMaxTokens } = this.options;
    const wanted = maxTokens ?? Math.min(defaultMaxTokens, contextSize - promptTokens);
    if (promptTokens + wanted > contextSize || wanted < 1) {
      throw new EndpointFault(
        'model',
        `This model's maximum context length is ${contextSize} tokens. However, you requested ${promptTokens + Math.max(wanted, 1)} tokens (${promptTokens} in the messages, ${Math.max(wanted, 1)} in the completion). Please reduce the length of the messages or completion.`,
        400,
      );
    }
    return wanted;
  }

  private async chatPlan(request: ChatRequest): Promise<Plan> {
    const { model, chatWrapper, jsonBound } = this.options;
    const choice = request.tool_choice ?? (request.tools?.length ? 'auto' : 'none');
    const tools = (choice === 'none' ? [] : (request.tools ?? [])).map((t) => ({
      name: t.function.name,
      description: t.function.description,
      params: toGrammarSchema(
        t.function.parameters ?? { type: 'object', properties: {} },
        jsonBound,
      ),
    }));
    const rendered = renderChat(
      model,
      chatWrapper,
      request.messages,
      tools.length > 0 ? toFunctions(tools) : undefined,
    );
    const maxTokens = this.budget(
      rendered.tokens.length,
      request.max_completion_tokens ?? request.max_tokens,
    );
    const plan: Plan = {
      prompt: rendered.tokens,
      maxTokens,
      stops: [...stopsOf(request.stop), ...rendered.stops],
      grammar: await this.contentGrammar(request, maxTokens),
      topLogprobs: request.logprobs ? (request.top_logprobs ?? 0) : undefined,
      penalties: penaltiesOf(request),
      sampling: sampler(request),
    };
    if (choice === 'required' || typeof choice === 'object') {
      const params = new Map(tools.map((t) => [t.name, t.params]));
      plan.tool = {
        name: typeof choice === 'object' ? choice.function.name : undefined,
        names: [...params.keys()],
        callOf: rendered.callOf,
        callPrefix: rendered.callPrefix,
        paramsPrefix: rendered.paramsPrefix,
        argumentsGrammar: (name) =>
          this.grammars.jsonSchema(
            params.get(name) ?? { type: 'object', properties: {} },
            this.options.jsonBound !== undefined,
          ),
      };
      if (plan.tool.names.length === 1) plan.tool.name = plan.tool.names[0];
    }
    return plan;
  }

  private async contentGrammar(
    request: ChatRequest,
    maxTokens: number,
  ): Promise<LlamaGrammar | undefined> {
    const format = request.response_format;
    const bound = this.options.jsonBound;
    if (format?.type === 'json_object') {
      return bound ? this.grammars.gbnf(boundedJsonObjectGbnf(bound)) : this.grammars.anyJson();
    }
    if (format?.type === 'json_schema') {
      const schema = format.json_schema.schema ?? { type: 'object', properties: {} };
      return this.grammars.jsonSchema(toGrammarSchema(schema, bound), bound !== undefined);
    }
    if (this.options.reasoningGrammar) return this.grammars.gbnf(reasoningGbnf(maxTokens));
    return undefined;
  }

  private completionPlans(request: CompletionRequest): Plan[] {
    const { model } = this.options;
    const prompts = typeof request.prompt === 'string' ? [request.prompt] : request.prompt;
    const sampling = sampler(request);
    return prompts.map((text) => {
      const prompt = model.tokenize(text);
      const bos = model.tokens.bos;
      if (bos !== null && model.tokens.shouldPrependBosToken && prompt[0] !== bos) {
        prompt.unshift(bos);
      }
      return {
        prompt,
        maxTokens: this.budget(prompt.length, request.max_tokens ?? undefined),
        stops: stopsOf(request.stop),
        grammar: undefined,
        topLogprobs: request.logprobs ?? undefined,
        penalties: penaltiesOf(request),
        sampling,
      };
    });
  }

  /** One choice, on its own sequence, released however it ends. */
  private async *choice(
    plan: Plan,
    index: number,
    signal: AbortSignal,
  ): AsyncGenerator<ChoiceEvent> {
    const lease = await this.options.lease(signal);
    try {
      const common = {
        model: this.options.model,
        sequence: lease.sequence,
        sampling: plan.sampling(index),
        penalties: plan.penalties,
        topLogprobs: plan.topLogprobs,
        signal,
      };
      if (plan.tool === undefined) {
        for await (const step of decode({
          ...common,
          tokens: plan.prompt,
          maxTokens: plan.maxTokens,
          grammar: plan.grammar,
          stops: plan.stops,
        })) {
          yield { type: 'text', text: step.text, logprobs: step.logprob ? [step.logprob] : [] };
          if (step.finish)
            yield { type: 'end', reason: step.finish.reason, tokens: step.finish.tokens };
        }
        return;
      }

      const tool = plan.tool;
      let name = tool.name;
      let used = 0;
      let tokens: Token[];
      if (name === undefined) {
        // The model picks the tool: its name under a grammar, right after the call prefix.
        let picked = '';
        for await (const step of decode({
          ...common,
          topLogprobs: undefined,
          tokens: tool.callPrefix,
          maxTokens: plan.maxTokens,
          grammar: await this.grammars.gbnf(nameChoiceGbnf(tool.names)),
          stops: [],
        })) {
          picked += step.text;
          if (step.finish) used = step.finish.tokens;
        }
        if (!tool.names.includes(picked)) {
          if (!signal.aborted) yield { type: 'end', reason: 'length', tokens: used };
          return;
        }
        name = picked;
        tokens = tool.paramsPrefix;
      } else {
        tokens = tool.callOf(name);
      }
      yield { type: 'tool', id: `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`, name };
      for await (const step of decode({
        ...common,
        tokens,
        maxTokens: plan.maxTokens - used,
        grammar: await tool.argumentsGrammar(name),
        stops: [],
      })) {
        yield { type: 'arguments', text: step.text, logprobs: step.logprob ? [step.logprob] : [] };
        if (step.finish) {
          const reason = step.finish.reason === 'stop' ? 'tool_calls' : 'length';
          yield { type: 'end', reason, tokens: used + step.finish.tokens };
        }
      }
    } finally {
      lease.sequence.dispose();
      lease.release();
    }
  }

  /** Chat plan and its choices: `n` of them, each an event source. */
  async chatChoices(request: ChatRequest, signal: AbortSignal) {
    const plan = await this.chatPlan(request);
    const n = request.n ?? 1;
    return {
      promptTokens: plan.prompt.length,
      choices: Array.from({ length: n }, (_, i) => () => this.choice(plan, i, signal)),
    };
  }

  /** Completion plans and their choices: `n` per prompt, indexed prompt by prompt. */
  completionChoices(request: CompletionRequest, signal: AbortSignal) {
    const plans = this.completionPlans(request);
    const n = request.n ?? 1;
    return {
      promptTokens: plans.reduce((sum, plan) => sum + plan.prompt.length, 0),
      choices: plans.flatMap((plan) =>
        Array.from({ length: n }, (_, i) => () => this.choice(plan, i, signal)),
      ),
    };
  }

  get modelName(): string {
    return this.options.modelName;
  }
}

import type { GbnfJsonSchema, Llama, LlamaGrammar } from 'node-llama-cpp';
import { EndpointFault } from '../endpoint/backend.js';

/**
 * Grammars the OpenAI schema needs: JSON schemas (`response_format`, tool arguments), any JSON
 * object, a choice of tool name, and the stand-in reasoner's `<think>` shape.
 *
 * A random-weight model never chooses to close a string or an array: under a grammar it writes
 * words until `max_tokens` cuts the JSON off. With `bound` set (the stand-in model), schemas are
 * narrowed so every value ends: strings get a `maxLength`, arrays a `maxItems`, objects lose
 * `additionalProperties`. Each narrowing only removes outputs, so what is generated still
 * validates against the schema the caller sent.
 */
export interface JsonBound {
  /** Longest string the model may write where the schema sets no `maxLength`. */
  maxStringLength: number;
  /** Most items where the schema sets no `maxItems`. */
  maxItems: number;
}

type Schema = Record<string, unknown>;
const isSchema = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function invalid(message: string): EndpointFault {
  return new EndpointFault('model', `Invalid request: ${message}`, 400);
}

/**
 * The schema node-llama-cpp's grammar builder takes: `anyOf` read as `oneOf` (a value matching
 * one branch matches any), `type` lists split into branches, narrowed by `bound` when given.
 */
export function toGrammarSchema(schema: unknown, bound: JsonBound | undefined): GbnfJsonSchema {
  if (!isSchema(schema)) throw invalid('a JSON schema must be an object');
  const out: Schema = { ...schema };
  if (Array.isArray(out.anyOf) && out.oneOf === undefined) {
    out.oneOf = out.anyOf;
    delete out.anyOf;
  }
  if (Array.isArray(out.oneOf)) out.oneOf = out.oneOf.map((s) => toGrammarSchema(s, bound));
  if (Array.isArray(out.type)) {
    const { type, ...rest } = out;
    return {
      oneOf: (type as unknown[]).map((t) => toGrammarSchema({ ...rest, type: t }, bound)),
    } as GbnfJsonSchema;
  }
  if (isSchema(out.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([k, v]) => [k, toGrammarSchema(v, bound)]),
    );
  }
  if (isSchema(out.items)) out.items = toGrammarSchema(out.items, bound);
  if (Array.isArray(out.prefixItems)) {
    out.prefixItems = out.prefixItems.map((s) => toGrammarSchema(s, bound));
  }
  if (isSchema(out.$defs)) {
    out.$defs = Object.fromEntries(
      Object.entries(out.$defs).map(([k, v]) => [k, toGrammarSchema(v, bound)]),
    );
  }
  if (isSchema(out.additionalProperties)) {
    out.additionalProperties = toGrammarSchema(out.additionalProperties, bound);
  }
  if (bound) narrow(out, bound);
  return out as GbnfJsonSchema;
}

function narrow(schema: Schema, bound: JsonBound): void {
  const free = schema.enum === undefined && schema.const === undefined;
  if (schema.type === 'string' && free && schema.format === undefined) {
    schema.maxLength ??= Math.max(Number(schema.minLength ?? 0), bound.maxStringLength);
  }
  if (schema.type === 'array' && free) {
    schema.maxItems ??= Math.max(Number(schema.minItems ?? 0), bound.maxItems);
  }
  if (schema.type === 'object' && free && schema.properties !== undefined) {
    // Extra keys are strings the model would never close.
    schema.additionalProperties = false;
  }
}

/** Any flat JSON object with short keys and scalar values: `{type: 'json_object'}` under a bound. */
export function boundedJsonObjectGbnf(bound: JsonBound): string {
  return [
    `root ::= "{" ws ( member ( "," ws member ){0,${bound.maxItems - 1}} )? ws "}"`,
    'member ::= key ":" ws value',
    'key ::= "\\"" [a-zA-Z_] [a-zA-Z0-9_]{0,15} "\\""',
    'value ::= string | number | "true" | "false" | "null"',
    `string ::= "\\"" char{0,${bound.maxStringLength}} "\\""`,
    'char ::= [^"\\\\\\x7F\\x00-\\x1F]',
    'number ::= "-"? ( "0" | [1-9] [0-9]{0,8} ) ( "." [0-9]{1,6} )?',
    'ws ::= [ ]?',
  ].join('\n');
}

/** Exactly one of `names`. */
export function nameChoiceGbnf(names: readonly string[]): string {
  return `root ::= ${names.map((name) => JSON.stringify(name)).join(' | ')}`;
}

/**
 * DeepSeek-R1's shape, `<think>\n…\n</think>\n\nanswer`, for a model that would not write it on
 * its own. About a third of `maxTokens` goes to the thought and a third to the answer (words
 * are one token or more), so both tags fit and the answer ends before the budget does.
 */
export function reasoningGbnf(maxTokens: number): string {
  const room = Math.max(2, maxTokens - 16);
  const thought = Math.max(1, Math.floor(room / 3));
  const answer = Math.max(1, Math.floor(room / 3));
  return [
    `root ::= "<think>\\n" words{1,${thought}} "\\n</think>\\n\\n" words{1,${answer}}`,
    'words ::= " "? [a-zA-Z] [a-zA-Z\']* [.,;:!?]?',
  ].join('\n');
}

/** Parts of the number rules node-llama-cpp 3.21 writes (`GbnfNumber`), and a narrower one. */
const WIDE_EXPONENT = ' ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?';
const WIDE_INTEGER = '"-"? ("0" | [1-9] [0-9]{0,15})';
const SHORT_INTEGER = '"-"? ("0" | [1-9] [0-9]{0,8})';

/** Creates grammars once per distinct text: building one parses it in llama.cpp. */
export class GrammarCache {
  private readonly entries = new Map<string, Promise<LlamaGrammar>>();

  constructor(
    private readonly llama: Llama,
    private readonly size = 64,
  ) {}

  /** A GBNF grammar; a text llama.cpp rejects is the caller's 400. */
  gbnf(grammar: string): Promise<LlamaGrammar> {
    return this.cached(`gbnf:${grammar}`, () => this.llama.createGrammar({ grammar }));
  }

  /**
   * A grammar for a JSON schema (already through {@link toGrammarSchema}). With `plainNumbers`,
   * numbers have no exponent and at most nine integer digits: node-llama-cpp allows sixteen
   * digits and a sixteen-digit exponent, and a model that picks digits at random writes
   * `657491E796347` (valid JSON, parsed as `Infinity`) or integers past 2^53.
   */
  jsonSchema(schema: GbnfJsonSchema, plainNumbers = false): Promise<LlamaGrammar> {
    return this.cached(`schema:${plainNumbers}:${JSON.stringify(schema)}`, async () => {
      const grammar = await this.llama.createGrammarForJsonSchema(
        schema as Parameters<Llama['createGrammarForJsonSchema']>[0],
      );
      if (!plainNumbers || !grammar.grammar.includes(WIDE_EXPONENT)) return grammar;
      return this.llama.createGrammar({
        grammar: grammar.grammar
          .replaceAll(WIDE_EXPONENT, '')
          .replaceAll(WIDE_INTEGER, SHORT_INTEGER),
        stopGenerationTriggers: grammar.stopGenerationTriggers,
        trimWhitespaceSuffix: grammar.trimWhitespaceSuffix,
      });
    });
  }

  /** node-llama-cpp's grammar for any JSON value. */
  anyJson(): Promise<LlamaGrammar> {
    return this.cached('json', () => this.llama.getGrammarFor('json'));
  }

  private cached(key: string, create: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const made = (async () => {
      try {
        return await create();
      } catch (error) {
        this.entries.delete(key);
        throw invalid(`no grammar for this schema (${(error as Error).message})`);
      }
    })();
    this.entries.set(key, made);
    if (this.entries.size > this.size) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return made;
  }
}

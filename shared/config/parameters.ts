/**
 * Which optional OpenAI request parameters each container format can carry. One rule, read by the
 * catalogue schema (a model may not allow what its format cannot express) and by the routes (a
 * request naming a parameter its model does not allow is a 400 that names it, never dropped).
 *
 * Always allowed, for every generation format: `model`, `messages` / `prompt`, `max_tokens` /
 * `max_completion_tokens` (bounded by the model's limits), `stream`, `stream_options`, `user`.
 */
export const GENERATION_PARAMETERS = [
  'temperature',
  'top_p',
  'stop',
  'seed',
  'n',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
] as const;

export type GenerationParameter = (typeof GENERATION_PARAMETERS)[number];

/** The container wire formats of generation models. */
export const GENERATION_FORMATS = ['openai', 'tgi'] as const;
export type GenerationFormat = (typeof GENERATION_FORMATS)[number];

/**
 * What each format can express. `openai` forwards the OpenAI body, so everything; `tgi`'s
 * `parameters` object has no place for tools, structured output, logprobs in the OpenAI shape,
 * several choices or OpenAI's penalties.
 */
export const FORMAT_PARAMETERS: Readonly<Record<GenerationFormat, readonly GenerationParameter[]>> =
  {
    openai: GENERATION_PARAMETERS,
    tgi: ['temperature', 'top_p', 'stop', 'seed'],
  };

/** The format a model of each kind gets when its entry names none. */
export const defaultFormat = (kind: 'chat' | 'completion' | 'embedding'): 'openai' | 'tei' =>
  kind === 'embedding' ? 'tei' : 'openai';

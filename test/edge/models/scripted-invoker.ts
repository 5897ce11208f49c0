import type { InvokeOptions, InvokeTarget, ModelInvoker } from '../../../edge/invoke/invoker.js';

/** What one target does with a call: answer (the default) or throw the error it returns. */
export type TargetScript = (call: number, opts: InvokeOptions) => unknown;

/**
 * A container per target, in process: answers TGI bodies, or fails as the target's script says.
 * Counts calls per target (`endpoint` or `endpoint/variant`), so tests see where traffic went.
 */
export class ScriptedInvoker implements ModelInvoker {
  readonly calls = new Map<string, number>();
  readonly scripts = new Map<string, TargetScript>();
  /** Events of a stream after the script let it start. */
  streamEvents: (opts: InvokeOptions) => AsyncIterable<unknown> = async function* () {
    yield { token: { id: 1, text: 'ok', special: false } };
    yield {
      token: { id: 2, text: '', special: true },
      generated_text: 'ok',
      details: { finish_reason: 'eos_token', generated_tokens: 1, prompt_tokens: 3 },
    };
  };

  fail(target: string, script: TargetScript): void {
    this.scripts.set(target, script);
  }

  count(target: string): number {
    return this.calls.get(target) ?? 0;
  }

  /** A whole answer: TGI's shape unless a test sets another. */
  answer: (opts: InvokeOptions) => unknown = (opts) => [
    {
      generated_text: `from ${keyOf(opts.target)}`,
      details: { finish_reason: 'eos_token', generated_tokens: 2, prompt_tokens: 3 },
    },
  ];

  async invoke(opts: InvokeOptions): Promise<unknown> {
    this.attempt(opts);
    return this.answer(opts);
  }

  async *invokeStream(opts: InvokeOptions): AsyncIterable<unknown> {
    this.attempt(opts);
    yield* this.streamEvents(opts);
  }

  async checkReady(_target: InvokeTarget): Promise<void> {}

  private attempt(opts: InvokeOptions): void {
    const key = keyOf(opts.target);
    const n = this.count(key) + 1;
    this.calls.set(key, n);
    const error = this.scripts.get(key)?.(n, opts);
    if (error !== undefined) throw error;
  }
}

const keyOf = (t: InvokeTarget): string => (t.variant ? `${t.endpoint}/${t.variant}` : t.endpoint);

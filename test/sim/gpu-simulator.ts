import { AsyncLocalStorage } from 'node:async_hooks';
import type { Socket } from 'node:net';
import {
  EndpointFault,
  type EndpointBackend,
  type InvocationInput,
  type InvocationOutput,
} from '../../local/endpoint/backend.js';
import { completionOf, embeddingOf, tokensOf } from './outputs.js';

/**
 * Faults on demand. An input containing `!fault:<kind>` triggers one for the invocation that
 * carries it (the whole batch, as on a GPU); `inject` queues faults for the next invocations.
 */
export type FaultKind =
  '5xx' | 'throttle' | 'hang' | 'reset' | 'wrong-count' | 'slow' | 'broken-stream';

export const FAULT_KINDS: readonly FaultKind[] = [
  '5xx',
  'throttle',
  'hang',
  'reset',
  'wrong-count',
  'slow',
  'broken-stream',
];

export interface GpuSimulatorOptions {
  /** Fixed cost of one invocation. @default 20 */
  alphaMs?: number;
  /** Cost per item in the batch. @default 0.3 */
  betaMs?: number;
  /** Invocations one instance runs at once. @default 2 */
  slotsPerInstance?: number;
  /** @default 1 */
  instances?: number;
  /** Delay between streamed tokens. @default 1 */
  tokenMs?: number;
  /** How much longer a `slow` invocation takes. @default 5 */
  slowFactor?: number;
}

export interface SimStats {
  invocations: number;
  items: number;
  /** Largest batch seen. */
  maxBatch: number;
  /** Most invocations holding a slot at once. */
  maxBusy: number;
  /** Invocations that waited for a slot. */
  queued: number;
}

/** The socket of the HTTP request being served, so that a `reset` fault can cut it. */
export const currentSocket = new AsyncLocalStorage<Socket>();

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MARKER = /!fault:([a-z0-9-]+)/;

/**
 * A GPU endpoint as a latency model: an invocation of `b` items costs `α + β·b` and holds one of
 * `instances × slotsPerInstance` slots; others wait in FIFO order. Speaks TEI (`{"inputs": [...]}`)
 * and TGI (`{"inputs": prompt, "parameters"}`, streamed as `data:{"token":…}` lines).
 */
export class GpuSimulator implements EndpointBackend {
  readonly stats: SimStats = { invocations: 0, items: 0, maxBatch: 0, maxBusy: 0, queued: 0 };
  private readonly options: Required<GpuSimulatorOptions>;
  private readonly waiting: Array<() => void> = [];
  private readonly pending: FaultKind[] = [];
  private busy = 0;
  private sampled = 0;

  constructor(options: GpuSimulatorOptions = {}) {
    this.options = {
      alphaMs: 20,
      betaMs: 0.3,
      slotsPerInstance: 2,
      instances: 1,
      tokenMs: 1,
      slowFactor: 5,
      ...options,
    };
  }

  /** Slots across all instances. */
  get slots(): number {
    return this.options.instances * this.options.slotsPerInstance;
  }

  /** Cost of one invocation of `b` items, in ms. */
  cost(b: number): number {
    return this.options.alphaMs + this.options.betaMs * b;
  }

  /** Items per second at full batches of `maxBatchSize`: the latency model's optimum. */
  optimum(maxBatchSize: number): number {
    return (this.slots * maxBatchSize * 1000) / this.cost(maxBatchSize);
  }

  /** Makes the next `times` invocations fail with `kind`. */
  inject(kind: FaultKind, times = 1): void {
    for (let i = 0; i < times; i++) this.pending.push(kind);
  }

  resetStats(): void {
    Object.assign(this.stats, { invocations: 0, items: 0, maxBatch: 0, maxBusy: 0, queued: 0 });
  }

  async invoke(input: InvocationInput): Promise<InvocationOutput> {
    const request = parse(input.body);
    const fault = this.faultFor(request.texts);
    await this.occupy(request.texts.length, fault, input.signal);
    if (request.kind === 'tei') {
      const vectors = request.texts.map(embeddingOf);
      if (fault === 'wrong-count') vectors.pop();
      return { body: encoder.encode(JSON.stringify(vectors)) };
    }
    const text = this.complete(request.texts[0]!, request.sample);
    const details = {
      finish_reason: 'length',
      generated_tokens: tokensOf(text).length,
      prompt_tokens: request.texts[0]!.length,
    };
    const body = fault === 'wrong-count' ? [] : [{ generated_text: text, details }];
    return { body: encoder.encode(JSON.stringify(body)) };
  }

  async *invokeStream(input: InvocationInput): AsyncGenerator<Uint8Array> {
    const request = parse(input.body);
    const fault = this.faultFor(request.texts);
    const release = await this.acquire(input.signal);
    try {
      await this.failIfAsked(fault, input.signal);
      await sleep(this.options.alphaMs * (fault === 'slow' ? this.options.slowFactor : 1));
      const text = this.complete(request.texts[0]!, request.sample);
      const tokens = tokensOf(text);
      for (const [i, token] of tokens.entries()) {
        if (input.signal.aborted) return;
        if (fault === 'broken-stream' && i === 1)
          throw new EndpointFault('model', 'simulated broken stream', 500);
        const last = i === tokens.length - 1;
        const event = last
          ? {
              token: { text: token },
              details: {
                finish_reason: 'length',
                generated_tokens: tokens.length,
                prompt_tokens: request.texts[0]!.length,
              },
            }
          : { token: { text: token } };
        yield encoder.encode(`data:${JSON.stringify(event)}\n\n`);
        await sleep(this.options.tokenMs);
      }
    } finally {
      release();
    }
  }

  describe() {
    return {
      variants: [{ name: 'AllTraffic', weight: 1, instanceCount: this.options.instances }],
    };
  }

  private complete(prompt: string, sample: boolean): string {
    // A sampled answer differs per call, so a test can tell a wrongly shared call apart.
    return sample ? `${completionOf(prompt)}~${++this.sampled}` : completionOf(prompt);
  }

  private faultFor(texts: readonly string[]): FaultKind | undefined {
    const queued = this.pending.shift();
    if (queued) return queued;
    for (const t of texts) {
      const m = MARKER.exec(t);
      if (m) return m[1] as FaultKind;
    }
    return undefined;
  }

  /** Holds a slot for the cost of a batch of `b`, failing as the fault asks. */
  private async occupy(b: number, fault: FaultKind | undefined, signal: AbortSignal) {
    const release = await this.acquire(signal);
    try {
      this.stats.invocations++;
      this.stats.items += b;
      this.stats.maxBatch = Math.max(this.stats.maxBatch, b);
      await this.failIfAsked(fault, signal);
      const factor = fault === 'slow' ? this.options.slowFactor : 1;
      await sleep(this.cost(b) * factor);
    } finally {
      release();
    }
  }

  private async failIfAsked(fault: FaultKind | undefined, signal: AbortSignal): Promise<void> {
    switch (fault) {
      case '5xx':
        throw new EndpointFault('model', 'simulated container failure', 500);
      case 'throttle':
        throw new EndpointFault('throttling', 'simulated throttling');
      case 'hang':
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        throw new EndpointFault('internal', 'caller left a hung call');
      case 'reset': {
        const socket = currentSocket.getStore();
        socket?.destroy();
        throw new EndpointFault('internal', 'simulated connection reset');
      }
    }
  }

  private acquire(signal: AbortSignal): Promise<() => void> {
    const take = () => {
      this.busy++;
      this.stats.maxBusy = Math.max(this.stats.maxBusy, this.busy);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        this.busy--;
        this.waiting.shift()?.();
      };
    };
    if (this.busy < this.slots) return Promise.resolve(take());
    this.stats.queued++;
    return new Promise((resolve, reject) => {
      const go = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(take());
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(go);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new EndpointFault('internal', 'caller left while queued'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(go);
    });
  }
}

interface SimRequest {
  kind: 'tei' | 'tgi';
  texts: string[];
  sample: boolean;
}

const parse = (body: Uint8Array): SimRequest => {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    throw new EndpointFault('model', 'body is not JSON', 400);
  }
  const inputs = (json as { inputs?: unknown }).inputs;
  if (Array.isArray(inputs) && inputs.every((x) => typeof x === 'string'))
    return { kind: 'tei', texts: inputs, sample: false };
  if (typeof inputs === 'string') {
    const params = (json as { parameters?: { do_sample?: unknown } }).parameters;
    return { kind: 'tgi', texts: [inputs], sample: params?.do_sample === true };
  }
  throw new EndpointFault('model', 'inputs must be a string or a list of strings', 422);
};

const sleep = (ms: number) =>
  ms <= 0 ? Promise.resolve() : new Promise<void>((r) => setTimeout(r, ms));

import { request, type Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import type {
  EndpointBackend,
  InvocationInput,
  InvocationOutput,
} from '../../../local/endpoint/backend.js';
import { GpuSimulator } from '../../sim/gpu-simulator.js';
import { embeddingOf } from '../../sim/outputs.js';

/**
 * The GPU simulator behind a gate: every invocation waits for `open()` (a stream first sends
 * one event, so its response has started), which keeps requests in flight for as long as a
 * shutdown test needs them there.
 */
export class HeldBackend implements EndpointBackend {
  /** Invocations received, and the items (inputs) they carried. */
  calls = 0;
  items = 0;
  /** Each stream's signal: aborted when the gateway gave up the call. */
  readonly streamSignals: AbortSignal[] = [];
  private readonly sim = new GpuSimulator({ alphaMs: 2, betaMs: 0, slotsPerInstance: 1024 });
  private gate!: Promise<void>;
  private openGate!: () => void;

  constructor() {
    this.close();
  }

  /** Lets every held invocation, and every later one, run. */
  open(): void {
    this.openGate();
  }

  /** Holds the next invocations again. */
  close(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  async invoke(input: InvocationInput): Promise<InvocationOutput> {
    this.count(input);
    await this.whileHeld(input.signal);
    return this.sim.invoke(input);
  }

  async *invokeStream(input: InvocationInput): AsyncGenerator<Uint8Array> {
    this.count(input);
    this.streamSignals.push(input.signal);
    let first = true;
    for await (const chunk of this.sim.invokeStream(input)) {
      yield chunk;
      if (first) await this.whileHeld(input.signal);
      first = false;
    }
  }

  private count(input: InvocationInput): void {
    this.calls++;
    const { inputs } = JSON.parse(new TextDecoder().decode(input.body)) as { inputs: unknown };
    this.items += Array.isArray(inputs) ? inputs.length : 1;
  }

  private whileHeld(signal: AbortSignal): Promise<void> {
    return Promise.race([
      this.gate,
      new Promise<void>((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('caller left')), { once: true }),
      ),
    ]);
  }
}

/** A catalogue for the held backend: an embedding model whose second batch waits while the first runs. */
export const heldCatalogue = {
  models: [
    {
      id: 'chat',
      kind: 'chat',
      policy: 'admit',
      format: 'tgi',
      endpoint: 'held',
      dedupe: false,
      admit: { maxConcurrency: 256 },
    },
    {
      id: 'embed',
      kind: 'embedding',
      policy: 'batch',
      format: 'tei',
      endpoint: 'held',
      // One batch at a time: while the first is held, later requests wait in an open batch.
      batch: { maxConcurrentBatches: 1, maxInflightBatches: 1 },
    },
  ],
  limits: {
    principal: { ratePerSecond: 10_000, burst: 10_000, maxConcurrent: 500 },
    tenant: { ratePerSecond: 10_000, burst: 10_000, maxConcurrent: 500 },
  },
};

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type Kind = 'chat' | 'embed' | 'stream';

/** The body of request `marker` of a kind. */
export const bodyOf = (kind: Kind, marker: string): string =>
  JSON.stringify(
    kind === 'embed'
      ? { model: 'embed', input: marker }
      : {
          model: 'chat',
          messages: [{ role: 'user', content: marker }],
          max_tokens: 32,
          stream: kind === 'stream',
        },
  );

/** Whether `answer` is the complete, correct answer to request `marker` (its own, no other's). */
export const isOwnAnswer = (kind: Kind, marker: string, answer: Answer): boolean => {
  if (answer.status !== 200) return false;
  if (kind === 'embed') {
    const got = (JSON.parse(answer.body) as { data: Array<{ embedding: number[] }> }).data;
    const want = embeddingOf(marker);
    return got.length === 1 && got[0]!.embedding.every((x, i) => Math.abs(x - want[i]!) < 1e-6);
  }
  if (kind === 'chat') {
    const content = (
      JSON.parse(answer.body) as { choices: Array<{ message: { content: string } }> }
    ).choices[0]?.message.content;
    return content !== undefined && content.startsWith('echo(') && onlyMarker(content, marker);
  }
  const events = answer.body
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
  if (events.at(-1) !== '[DONE]') return false;
  const text = events
    .slice(0, -1)
    .map((e) => (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices)
    .map((c) => c[0]?.delta.content ?? '')
    .join('');
  return text.startsWith('echo(') && onlyMarker(text, marker);
};

/** A request's unique marker: `q<n>x`. */
export const markerOf = (n: number | string): string => `q${n}x`;

/** Whether `text` names `marker` and no other request's marker. */
const onlyMarker = (text: string, marker: string): boolean => {
  const found = text.match(/q[0-9a-z-]+x/g) ?? [];
  return found.length > 0 && found.every((m) => m === marker);
};

/** POSTs over `agent` (keep-alive), resolving with the whole answer. */
export const post = (
  base: string,
  path: string,
  body: string,
  options: { agent: Agent; token?: string },
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method: 'POST',
        agent: options.agent,
        headers: {
          'content-type': 'application/json',
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });

/**
 * One HTTP/1.1 connection driven by hand, to see exactly what the server does with it: which
 * `Connection` header it sends, and when it closes the socket.
 */
export class RawConnection {
  private buffer = '';
  private readonly socket: Socket;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
  private wake: () => void = () => {};

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.wake());
  }

  static open(base: string): Promise<RawConnection> {
    const { hostname, port } = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  /** Sends one request; `false` when the socket would not take it. */
  send(path: string, body: string, token?: string): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    const head = [
      `POST ${path} HTTP/1.1`,
      'host: 127.0.0.1',
      'content-type: application/json',
      `content-length: ${Buffer.byteLength(body)}`,
      ...(token ? [`authorization: Bearer ${token}`] : []),
    ];
    this.socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
    return true;
  }

  /** Reads until the response head has arrived. */
  async head(): Promise<{ status: number; headers: Record<string, string> }> {
    const end = await this.until(() => {
      const i = this.buffer.indexOf('\r\n\r\n');
      return i < 0 ? undefined : i;
    });
    const [statusLine, ...lines] = this.buffer.slice(0, end).split('\r\n');
    this.buffer = this.buffer.slice(end + 4);
    const headers = Object.fromEntries(
      lines.map((l) => [
        l.slice(0, l.indexOf(':')).toLowerCase(),
        l.slice(l.indexOf(':') + 1).trim(),
      ]),
    );
    return { status: Number(statusLine!.split(' ')[1]), headers };
  }

  /** Reads a body of `content-length` bytes, or a chunked one to its last chunk. */
  async body(headers: Record<string, string>): Promise<string> {
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      await this.until(() => (Buffer.byteLength(this.buffer) >= n ? true : undefined));
      const body = this.buffer.slice(0, n);
      this.buffer = this.buffer.slice(n);
      return body;
    }
    let body = '';
    for (;;) {
      const size = await this.until(() => {
        const i = this.buffer.indexOf('\r\n');
        return i < 0 ? undefined : parseInt(this.buffer.slice(0, i), 16);
      });
      const start = this.buffer.indexOf('\r\n') + 2;
      await this.until(() => (this.buffer.length >= start + size + 2 ? true : undefined));
      body += this.buffer.slice(start, start + size);
      this.buffer = this.buffer.slice(start + size + 2);
      if (size === 0) return body;
    }
  }

  /** Reads until the body so far contains `text`. */
  async bodyUntil(text: string): Promise<void> {
    await this.until(() => (this.buffer.includes(text) ? true : undefined));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async until<T>(ready: () => T | undefined): Promise<T> {
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.isClosed && this.socket.readableLength === 0)
        throw new Error('connection closed before the answer was complete');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

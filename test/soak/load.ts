import type { FaultKind } from '../sim/gpu-simulator.js';
import { embeddingOf } from '../sim/outputs.js';

/**
 * One soak request: what it asks, which fault it carries into the simulator, and how it checks
 * its own answer. Every request names a unique marker (`q<n>x`); an answer naming another
 * request's marker, or a vector computed from another input, is a crossed result.
 */
export type RequestKind = 'chat' | 'stream' | 'embed';

export interface Planned {
  n: number;
  kind: RequestKind;
  /** Carried as `!fault:<kind>` in the prompt or one input: the simulator fails that invocation. */
  fault: FaultKind | undefined;
  /** A stream the client abandons after its first event. */
  abortAfterFirst: boolean;
  /** Embedding inputs (1 to 3). */
  inputs: string[];
}

/** What became of one request: `ok`, `client_abort`, or an error kind. */
export interface Outcome {
  kind: string;
  /** A crossed result, a hang, a reset client connection, a 500, or an answer that does not parse. */
  bad: boolean;
  latencyMs: number;
}

const FAULTS: Record<RequestKind, readonly FaultKind[]> = {
  chat: ['5xx', 'throttle', 'reset', 'slow', 'throttle', '5xx', 'hang'],
  stream: ['broken-stream', '5xx', 'throttle', 'slow'],
  embed: ['5xx', 'throttle', 'wrong-count', 'reset'],
};

/** Share of requests that carry a fault, and of streams the client abandons. */
export const FAULT_SHARE = 0.06;
export const ABORT_SHARE = 0.05;

/** Longest a request may take before the soak calls it hung (the model timeout is 5 s). */
export const HANG_MS = 20_000;

/** A seeded PRNG (mulberry32), so a run's request mix is reproducible. */
export const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};

export const plan = (n: number, random: () => number): Planned => {
  const r = random();
  const kind: RequestKind = r < 0.45 ? 'chat' : r < 0.7 ? 'stream' : 'embed';
  const faults = FAULTS[kind];
  const fault = random() < FAULT_SHARE ? faults[Math.floor(random() * faults.length)] : undefined;
  const count = 1 + Math.floor(random() * 3);
  const inputs = Array.from({ length: count }, (_, j) => `${markerOf(n)}:${j}`);
  if (fault && kind === 'embed') inputs[0] += ` !fault:${fault}`;
  return { n, kind, fault, abortAfterFirst: kind === 'stream' && random() < ABORT_SHARE, inputs };
};

const markerOf = (n: number) => `q${n}x`;

const bodyOf = (p: Planned): string => {
  if (p.kind === 'embed') return JSON.stringify({ model: 'soak-embed', input: p.inputs });
  const content = `${markerOf(p.n)}${p.fault ? ` !fault:${p.fault}` : ''}`;
  return JSON.stringify({
    model: 'soak-chat',
    messages: [{ role: 'user', content }],
    max_tokens: 32,
    stream: p.kind === 'stream',
  });
};

/** Whether `text` names this request's marker and no other. */
const ownText = (p: Planned, text: string): boolean => {
  const found = text.match(/q\d+x/g) ?? [];
  return text.startsWith('echo(') && found.length > 0 && found.every((m) => m === markerOf(p.n));
};

const errorCode = (body: string): string | undefined => {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
};

/** Sends one request and checks its answer. Never throws. */
export const perform = async (base: string, token: string, p: Planned): Promise<Outcome> => {
  const started = performance.now();
  const client = new AbortController();
  const signal = AbortSignal.any([client.signal, AbortSignal.timeout(HANG_MS)]);
  // A bad outcome names what was asked, so a failing run says where to look.
  const done = (kind: string, bad = false): Outcome => ({
    kind: bad ? `${kind} (${p.kind}${p.fault ? `, fault ${p.fault}` : ''})` : kind,
    bad,
    latencyMs: performance.now() - started,
  });
  try {
    const res = await fetch(
      `${base}${p.kind === 'embed' ? '/v1/embeddings' : '/v1/chat/completions'}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: bodyOf(p),
        signal,
      },
    );
    if (res.status !== 200) {
      const code = errorCode(await res.text());
      if (!code) return done(`http_${res.status}_unparsed`, true);
      return done(`http_${res.status}_${code}`, res.status === 500);
    }
    if (p.kind === 'stream') return done(...(await readStream(p, res, client)));
    const body = await res.text();
    return done(...checkWhole(p, body));
  } catch (err) {
    if (client.signal.aborted) return done('client_abort');
    const name = (err as Error).name;
    if (name === 'TimeoutError') return done('hung', true);
    return done(`client_socket_error`, true);
  }
};

const checkWhole = (p: Planned, body: string): [string, boolean] => {
  try {
    if (p.kind === 'chat') {
      const json = JSON.parse(body) as { choices: Array<{ message: { content: string } }> };
      return ownText(p, json.choices[0]?.message.content ?? '') ? ['ok', false] : ['crossed', true];
    }
    const json = JSON.parse(body) as { data: Array<{ index: number; embedding: number[] }> };
    const own =
      json.data.length === p.inputs.length &&
      json.data.every((d, i) => {
        const want = embeddingOf(p.inputs[d.index] ?? '');
        return d.index === i && d.embedding.every((x, j) => Math.abs(x - want[j]!) < 1e-6);
      });
    return own ? ['ok', false] : ['crossed', true];
  } catch {
    return ['bad_body', true];
  }
};

const readStream = async (
  p: Planned,
  res: Response,
  client: AbortController,
): Promise<[string, boolean]> => {
  const decoder = new TextDecoder();
  let text = '';
  const reader = res.body!.getReader();
  for (let step = await reader.read(); !step.done; step = await reader.read()) {
    text += decoder.decode(step.value, { stream: true });
    if (p.abortAfterFirst && text.includes('\n\n')) {
      client.abort();
      return ['client_abort', false];
    }
  }
  const events = text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
  const last = events.at(-1);
  if (last === '[DONE]') {
    try {
      const content = events
        .slice(0, -1)
        .map((e) => JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> })
        .map((e) => e.choices[0]?.delta.content ?? '')
        .join('');
      return ownText(p, content) ? ['ok', false] : ['crossed', true];
    } catch {
      return ['bad_body', true];
    }
  }
  const code = last === undefined ? undefined : errorCode(last);
  return code ? [`stream_error_${code}`, false] : ['stream_truncated', true];
};

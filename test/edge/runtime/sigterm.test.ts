import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import {
  accessClaims,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
} from '../auth/fixtures.js';
import {
  bodyOf,
  HeldBackend,
  heldCatalogue,
  isOwnAnswer,
  markerOf,
  post,
  RawConnection,
  type Kind,
} from './drain-fixtures.js';

/**
 * SIGTERM sent to exactly what users run: `npm run serve` (README) and the container image's
 * `CMD` (Dockerfile), each started as a child process with requests in flight.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));

let backend: HeldBackend;
let endpoint: LocalEndpoint;
let jwks: LoopbackServer;
let token: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

beforeAll(async () => {
  backend = new HeldBackend();
  endpoint = await startLocalEndpoint({
    port: 0,
    backends: { held: backend },
    onUnexpectedError: () => {},
  });
  const key = await makeKey();
  jwks = await serveJwks([key.jwk]);
  token = await sign(key, accessClaims(`${jwks.url}/pool`, Math.floor(Date.now() / 1000)));
  env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    SLUICE_DRAIN_MS: '30000',
    SLUICE_CONFIG_JSON: JSON.stringify(heldCatalogue),
    SLUICE_SAGEMAKER_ENDPOINT_URL: endpoint.url,
    SLUICE_AUTH_ISSUER: `${jwks.url}/pool`,
    SLUICE_AUTH_CLIENT_IDS: CLIENT_ID,
    SLUICE_AUTH_JWKS_URL: `${jwks.url}/jwks.json`,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    LOG_LEVEL: 'info',
  };
});

afterEach(() => {
  backend.open();
  backend.close();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

afterAll(async () => {
  backend.open();
  await endpoint.close();
  await jwks.close();
});

interface Started {
  child: ChildProcess;
  url: string;
  /** The gateway's own pid, from its `listening` log line. */
  pid: number;
  /** The gateway's log lines, parsed. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const start = (argv: string[]): Promise<Started> => {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    void exited.then(() => reject(new Error(`exited before listening: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.message === 'listening')
        resolve({ child, url: String(entry.url), pid: Number(entry.pid), logs, exited });
    });
  });
};

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The image's `CMD`, which must be in exec form (no shell in between). */
const imageCommand = (): string[] => {
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(readFileSync(`${root}/Dockerfile`, 'utf8'))?.[1];
  expect(cmd, 'Dockerfile has an exec-form CMD').toBeDefined();
  return JSON.parse(cmd!) as string[];
};

/** Whether this machine lets us start a process as PID 1 of a new PID namespace (root, Linux). */
const canUnshare =
  process.platform === 'linux' &&
  spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

const pathOf = (kind: Kind) => (kind === 'embed' ? '/v1/embeddings' : '/v1/chat/completions');

/** An idle kept-alive connection, after one answered request on it. */
const idleConnection = async (url: string): Promise<RawConnection> => {
  const connection = await RawConnection.open(url);
  backend.open();
  connection.send('/v1/embeddings', bodyOf('embed', markerOf('idle')), token);
  const head = await connection.head();
  await connection.body(head.headers);
  backend.close();
  expect(head.headers.connection).toBe('keep-alive');
  return connection;
};

describe('SIGTERM', () => {
  it('to `npm run serve` drains 50 requests in flight in the gateway itself and exits 0', async () => {
    const gateway = await start(['npm', 'run', 'serve']);
    // npm starts the gateway through `sh -c "exec node …"`: the shell is replaced by node.
    expect(gateway.pid).not.toBe(gateway.child.pid);
    const idle = await idleConnection(gateway.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const calls = backend.calls;
    const kinds: Kind[] = [
      ...Array<Kind>(20).fill('embed'),
      ...Array<Kind>(20).fill('chat'),
      ...Array<Kind>(10).fill('stream'),
    ];
    const answers = kinds.map((kind, i) =>
      post(gateway.url, pathOf(kind), bodyOf(kind, markerOf(i)), { agent, token }),
    );
    await expect.poll(() => backend.calls - calls, { timeout: 15_000 }).toBeGreaterThanOrEqual(31);

    gateway.child.kill('SIGTERM');
    // Only the gateway closes its connections: the signal reached it, through npm.
    await idle.closed;
    const released = Date.now();
    backend.open();
    const results = await Promise.all(answers);
    const { code, signal } = await gateway.exited;
    agent.destroy();

    expect(results.filter((r, i) => !isOwnAnswer(kinds[i]!, markerOf(i), r))).toEqual([]);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - released).toBeLessThan(10_000);
    expect(isAlive(gateway.pid)).toBe(false);
    expect(gateway.logs.find((l) => l.message === 'drained')).toMatchObject({
      inflight: 50,
      cut: 0,
    });
  }, 60_000);

  it("to the container image's CMD (exec form) drains in node itself and exits 0", async () => {
    const argv = imageCommand();
    expect(argv[0]).toBe('node');
    const gateway = await start(argv);
    expect(gateway.pid).toBe(gateway.child.pid);
    const agent = new Agent({ keepAlive: true });
    const calls = backend.calls;
    const kinds: Kind[] = ['embed', 'chat', 'stream'];
    const answers = kinds.map((kind, i) =>
      post(gateway.url, pathOf(kind), bodyOf(kind, markerOf(i)), { agent, token }),
    );
    await expect.poll(() => backend.calls - calls, { timeout: 15_000 }).toBe(3);

    gateway.child.kill('SIGTERM');
    await expect.poll(() => gateway.logs.some((l) => l.message === 'draining')).toBe(true);
    backend.open();
    const results = await Promise.all(answers);
    agent.destroy();
    expect(results.filter((r, i) => !isOwnAnswer(kinds[i]!, markerOf(i), r))).toEqual([]);
    expect(await gateway.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  // In a container the gateway is PID 1, which the kernel spares every signal it has no handler
  // for: this is the check that node-main's handler is what stops it.
  it.skipIf(!canUnshare)(
    'to the CMD running as PID 1 of its own PID namespace drains and exits 0',
    async () => {
      const gateway = await start([
        'unshare',
        '--pid',
        '--fork',
        '--mount-proc',
        '--kill-child',
        ...imageCommand(),
      ]);
      expect(gateway.pid).toBe(1);
      const children = readFileSync(
        `/proc/${gateway.child.pid}/task/${gateway.child.pid}/children`,
        'utf8',
      );
      const hostPid = Number(children.trim().split(' ')[0]);
      const agent = new Agent({ keepAlive: true });
      const calls = backend.calls;
      const answer = post(gateway.url, pathOf('chat'), bodyOf('chat', markerOf(1)), {
        agent,
        token,
      });
      await expect.poll(() => backend.calls - calls, { timeout: 15_000 }).toBe(1);

      process.kill(hostPid, 'SIGTERM');
      await expect.poll(() => gateway.logs.some((l) => l.message === 'draining')).toBe(true);
      backend.open();
      expect(isOwnAnswer('chat', markerOf(1), await answer)).toBe(true);
      agent.destroy();
      expect(await gateway.exited).toEqual({ code: 0, signal: null });
    },
    60_000,
  );
});

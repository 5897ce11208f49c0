/**
 * `npm run soak -- --minutes N --rate R --seed S`: the production gateway (`node-main.ts`, in
 * its own process, JWT auth on) in front of the GPU simulator, all on loopback, under a fixed
 * arrival rate with faults mixed in. Prints the gateway's memory and event-loop delay at the
 * start and the end, and outcomes by kind; exits 1 on a crossed result, a hang, a 500 or a
 * reset client connection, memory growth past the bounds below, or a drain that does not exit 0.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeKey, serveJwks, sign, type TestKey } from '../edge/auth/fixtures.js';
import { GpuSimulator } from '../sim/gpu-simulator.js';
import { startSimulator } from '../sim/serve.js';
import { perform, plan, seeded, type Outcome } from './load.js';
import type { ProbeRequest, ProbeSample } from './probe.js';
import { printReport, type SoakResult } from './report.js';

/** Growth allowed from the end of the warm-up to the end of the run, after a full GC. */
export const HEAP_GROWTH_MAX_BYTES = 16 * 2 ** 20;
export const RSS_GROWTH_MAX_BYTES = 64 * 2 ** 20;

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
if (!(minutes > 0 && minutes <= 24 * 60) || !(rate > 0 && rate <= 2000)) {
  process.stderr.write('--minutes must be in (0, 1440] and --rate in (0, 2000] requests/s\n');
  process.exit(2);
}
const durationMs = minutes * 60_000;
const warmupMs = Math.min(30_000, durationMs / 4);

const catalogue = {
  models: [
    {
      id: 'soak-chat',
      kind: 'chat',
      policy: 'admit',
      format: 'tgi',
      endpoint: 'soak-chat',
      timeoutMs: 5000,
      breaker: { cooldownMs: 2000 },
      admit: { maxConcurrency: 64, maxQueue: 512, queueTimeoutMs: 5000 },
    },
    {
      id: 'soak-embed',
      kind: 'embedding',
      policy: 'batch',
      format: 'tei',
      endpoint: 'soak-embed',
      timeoutMs: 5000,
      breaker: { cooldownMs: 2000 },
    },
  ],
  limits: {
    principal: { ratePerSecond: 1000, burst: 1000, maxConcurrent: 500 },
    tenant: { ratePerSecond: 1000, burst: 1000, maxConcurrent: 500 },
  },
};

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const main = async (): Promise<number> => {
  const simulator = await startSimulator({
    backends: {
      'soak-chat': new GpuSimulator({ alphaMs: 15, tokenMs: 2, slotsPerInstance: 32 }),
      'soak-embed': new GpuSimulator({ alphaMs: 10, betaMs: 0.3, slotsPerInstance: 4 }),
    },
  });
  const key: TestKey = await makeKey('ES256');
  const jwks = await serveJwks([key.jwk]);
  const issuer = `${jwks.url}/pool`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  const gateway = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      '--import',
      './test/soak/probe.ts',
      'edge/runtime/node-main.ts',
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        SLUICE_DRAIN_MS: '10000',
        SLUICE_CONFIG_JSON: JSON.stringify(catalogue),
        SLUICE_SAGEMAKER_ENDPOINT_URL: simulator.url,
        SLUICE_AUTH_ISSUER: issuer,
        SLUICE_AUTH_CLIENT_IDS: 'soak-client',
        SLUICE_AUTH_JWKS_URL: `${jwks.url}/jwks.json`,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        LOG_LEVEL: 'info',
      },
    },
  );
  const exited = new Promise<number | null>((resolve) =>
    gateway.once('exit', (code) => resolve(code)),
  );
  const logs = { errors: 0, drained: undefined as Record<string, unknown> | undefined };
  createInterface({ input: gateway.stdout! }).on('line', (line) => {
    if (line.includes('"level":"error"')) logs.errors++;
    if (line.includes('"message":"drained"'))
      logs.drained = JSON.parse(line) as Record<string, unknown>;
  });

  let nextId = 0;
  const pending = new Map<number, (s: ProbeSample) => void>();
  gateway.on('message', (m: ProbeSample) => pending.get(m.id)?.(m));
  const sample = (gc: boolean) =>
    new Promise<ProbeSample>((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      gateway.send({ type: 'sample', id, gc } satisfies ProbeRequest);
    });

  for (let i = 0; ; i++) {
    if (i > 600) throw new Error('the gateway did not start within 60 s');
    if (gateway.exitCode !== null) throw new Error('the gateway exited at start-up');
    const up = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    await sleep(100);
  }

  // Callers come and go: 8 subjects in 4 tenants per 10-second window, new ones every window,
  // so state kept per caller (limiter entries, cached tokens) must be forgotten to stay flat.
  const tokens = new Map<string, Promise<string>>();
  const tokenFor = (n: number, elapsedMs: number) => {
    const window = Math.floor(elapsedMs / 10_000);
    const subject = `soak-${window}-${n % 8}`;
    let token = tokens.get(subject);
    if (!token) {
      if (tokens.size > 64) tokens.delete(tokens.keys().next().value!);
      const now = Math.floor(Date.now() / 1000);
      token = sign(key, {
        iss: issuer,
        sub: subject,
        client_id: 'soak-client',
        token_use: 'access',
        scope: 'inference/invoke',
        'custom:tenant': `tenant-${window}-${n % 4}`,
        iat: now,
        exp: now + 7200,
      });
      tokens.set(subject, token);
    }
    return token;
  };

  const random = seeded(Number(values.seed));
  const outcomes: Outcome[] = [];
  const inflight = new Set<Promise<void>>();
  let launched = 0;
  let start: ProbeSample | undefined;
  const t0 = performance.now();
  let nextSample = warmupMs;
  process.stdout.write(
    `soak: ${minutes} min at ${rate} requests/s against ${base} (gateway pid ${gateway.pid}); warm-up ${warmupMs / 1000} s\n`,
  );
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= durationMs) break;
    const due = Math.floor((rate * elapsed) / 1000);
    for (; launched < due; launched++) {
      const p = plan(launched, random);
      const run = tokenFor(launched, elapsed)
        .then((token) => perform(base, token, p))
        .then((o) => void outcomes.push(o));
      inflight.add(run);
      void run.finally(() => inflight.delete(run));
    }
    if (elapsed >= nextSample) {
      const s = await sample(true);
      start ??= s;
      process.stdout.write(
        `  ${Math.round(elapsed / 1000)} s: ${describe(s)}, ${inflight.size} in flight\n`,
      );
      nextSample += 30_000;
    }
    await sleep(10);
  }
  const achievedRate = (launched * 1000) / (performance.now() - t0);
  await Promise.race([Promise.all(inflight), sleep(30_000)]);
  const leftInFlight = inflight.size;
  await sleep(1000);
  const end = await sample(true);
  process.stdout.write(`  end: ${describe(end)}\n`);

  const stopped = performance.now();
  gateway.kill('SIGTERM');
  const exitCode = await exited;
  const drainMs = performance.now() - stopped;
  await simulator.close();
  await jwks.close();

  const result: SoakResult = {
    minutes,
    rate,
    achievedRate,
    seed: Number(values.seed),
    outcomes,
    leftInFlight,
    start: start ?? end,
    end,
    gatewayErrorLogs: logs.errors,
    exitCode,
    drainMs,
    drained: logs.drained,
    heapBound: HEAP_GROWTH_MAX_BYTES,
    rssBound: RSS_GROWTH_MAX_BYTES,
  };
  return printReport(result) ? 0 : 1;
};

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const describe = (s: ProbeSample) =>
  `rss ${mib(s.rssBytes)}, heap ${mib(s.heapUsedBytes)}, loop delay p50 ${s.loop.p50Ms} ms p99 ${s.loop.p99Ms} ms max ${s.loop.maxMs} ms`;

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak failed: ${String(err)}\n`);
    process.exit(1);
  },
);

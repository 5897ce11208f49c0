import { createApp } from '../../edge/app.js';
import { createTokenVerifier } from '../../edge/auth/verify-token.js';
import { SageMakerInvoker } from '../../edge/invoke/sagemaker.js';
import { PromMetrics } from '../../edge/metrics/metrics.js';
import { ModelRegistry } from '../../edge/models/registry.js';
import { serveApp, type RunningServer } from '../../edge/runtime/serve.js';
import type { Logger } from '../../edge/types.js';
import type { EndpointBackend } from '../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/endpoint/server.js';
import { parseGatewayConfig } from '../../shared/config/load.js';
import type { GatewayConfigInput } from '../../shared/config/schema.js';
import {
  accessClaims,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
  type TestKey,
} from '../edge/auth/fixtures.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/** No client call of the suite may take longer: a hang fails its case instead of the run. */
export const CASE_DEADLINE_MS = 5000;

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The error `code` of an error answer or of a stream's error event. */
  code: string | undefined;
}

export interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

export interface Rig {
  endpoint: LocalEndpoint;
  proxy: FaultProxy;
  jwks: LoopbackServer;
  gateway: RunningServer;
  metrics: PromMetrics;
  logs: LogLine[];
  /**
   * POSTs JSON to the gateway over HTTP with an access token of `tenant` (one per tenant, or a
   * new one with `fresh`, which the gateway's verified-token cache has not seen).
   */
  post(path: string, body: unknown, tenant?: string, fresh?: boolean): Promise<Answer>;
  close(): Promise<void>;
}

/**
 * The whole request path over real sockets: an HTTP client → the gateway (`createApp` served by
 * `serveApp`, JWT verification against a JWKS on loopback, the real `SageMakerInvoker`) → a TCP
 * fault proxy → the local SageMaker-compatible endpoint (`startLocalEndpoint`) over the given
 * backends.
 */
export const startRig = async (options: {
  models: GatewayConfigInput['models'];
  backends: Record<string, EndpointBackend>;
  /** The registry's weighted choice. @default Math.random */
  random?: () => number;
}): Promise<Rig> => {
  const key: TestKey = await makeKey();
  const jwks = await serveJwks([key.jwk]);
  const issuer = `${jwks.url}/pool`;
  const endpoint = await startLocalEndpoint({
    port: 0,
    backends: options.backends,
    onUnexpectedError: () => {},
  });
  const proxy = await startFaultProxy(endpoint.url);
  const config = parseGatewayConfig({ limits: { enabled: false }, models: options.models });
  const metrics = new PromMetrics();
  const logs: LogLine[] = [];
  const line =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void =>
      void logs.push({ level, message, fields });
  const logger: Logger = {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
  const { app } = createApp({
    config,
    invoker: new SageMakerInvoker({
      endpointUrl: proxy.url,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    auth: {
      mode: 'jwt',
      verifier: createTokenVerifier({
        issuer,
        clientIds: [CLIENT_ID],
        jwksUrl: `${jwks.url}/jwks.json`,
        jwksTimeoutMs: 500,
      }),
    },
    metrics,
    logger,
    ...(options.random ? { registry: new ModelRegistry(config, { random: options.random }) } : {}),
  });
  const gateway = await serveApp(app, { port: 0, drainMs: 0 });

  const tokens = new Map<string, Promise<string>>();
  const tokenOf = (tenant: string, fresh: boolean) => {
    const make = () =>
      sign(key, {
        ...accessClaims(issuer, Math.floor(Date.now() / 1000)),
        'custom:tenant': tenant,
      });
    if (fresh) return make();
    let token = tokens.get(tenant);
    if (!token) tokens.set(tenant, (token = make()));
    return token;
  };

  const post = async (path: string, body: unknown, tenant = 't0', fresh = false) => {
    const token = await tokenOf(tenant, fresh);
    const res = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CASE_DEADLINE_MS),
    });
    const text = await res.text();
    const answer: Answer = { status: res.status, headers: res.headers, text, code: codeOf(text) };
    return answer;
  };

  return {
    endpoint,
    proxy,
    jwks,
    gateway,
    metrics,
    logs,
    post,
    close: async () => {
      await gateway.close();
      await proxy.close();
      await endpoint.close();
      await jwks.close();
    },
  };
};

const codeOf = (text: string): string | undefined => /"code":"([^"]+)"/.exec(text)?.[1];

/** A seeded uniform generator (mulberry32), so a weighted split is the same on every run. */
export const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

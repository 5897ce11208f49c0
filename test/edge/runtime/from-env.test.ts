import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gatewayFromEnv, serveOptionsFromEnv } from '../../../edge/runtime/from-env.js';
import type { EndpointBackend } from '../../../local/endpoint/backend.js';
import { startLocalEndpoint, type LocalEndpoint } from '../../../local/endpoint/server.js';
import { ConfigError } from '../../../shared/config/load.js';
import {
  accessClaims,
  CLIENT_ID,
  makeKey,
  serveJwks,
  sign,
  type LoopbackServer,
  type TestKey,
} from '../auth/fixtures.js';

/** The production wiring: config, JWT auth and the SageMaker SDK all from the environment. */
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const embedder: EndpointBackend = {
  async invoke(input) {
    const { inputs } = JSON.parse(decoder.decode(input.body)) as { inputs: string[] };
    return { body: encoder.encode(JSON.stringify(inputs.map((s) => [s.length, 1]))) };
  },
  async *invokeStream() {},
};

let endpoint: LocalEndpoint;
let jwks: LoopbackServer;
let key: TestKey;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  endpoint = await startLocalEndpoint({ port: 0, backends: { 'embed-ep': embedder } });
  key = await makeKey();
  jwks = await serveJwks([key.jwk]);
  // The SDK's default credential chain reads the process environment.
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  env = {
    SLUICE_CONFIG_JSON: JSON.stringify({
      models: [
        { id: 'e', kind: 'embedding', policy: 'batch', format: 'tei', endpoint: 'embed-ep' },
      ],
    }),
    SLUICE_SAGEMAKER_ENDPOINT_URL: endpoint.url,
    SLUICE_AUTH_ISSUER: `${jwks.url}/pool`,
    SLUICE_AUTH_CLIENT_IDS: CLIENT_ID,
    SLUICE_AUTH_JWKS_URL: `${jwks.url}/jwks.json`,
    LOG_LEVEL: 'error',
  };
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await endpoint.close();
  await jwks.close();
});

const embed = (app: ReturnType<typeof gatewayFromEnv>['app'], headers: Record<string, string>) =>
  app.request('/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'e', input: ['abc', 'de'] }),
  });

describe('gatewayFromEnv', () => {
  it('refuses to start without a catalogue or without an issuer', () => {
    expect(() => gatewayFromEnv({ ...env, SLUICE_CONFIG_JSON: undefined })).toThrow(ConfigError);
    expect(() => gatewayFromEnv({ ...env, SLUICE_AUTH_ISSUER: undefined })).toThrow(
      /SLUICE_AUTH_ISSUER/,
    );
  });

  it('requires a verified token and then calls SageMaker through the SDK', async () => {
    const { app } = gatewayFromEnv(env);
    expect((await embed(app, {})).status).toBe(401);
    const token = await sign(key, accessClaims(`${jwks.url}/pool`, Math.floor(Date.now() / 1000)));
    const res = await embed(app, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect((await res.json()).data.map((d: { embedding: number[] }) => d.embedding)).toEqual([
      [3, 1],
      [2, 1],
    ]);
  });

  it('reads the CloudFront-forwarded token header only when SLUICE_AUTH_TOKEN_HEADER names it', async () => {
    const token = await sign(key, accessClaims(`${jwks.url}/pool`, Math.floor(Date.now() / 1000)));
    const sigv4 =
      'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/lambda/aws4_request, Signature=y';
    const headers = { authorization: sigv4, 'x-sluice-authorization': `Bearer ${token}` };
    expect((await embed(gatewayFromEnv(env).app, headers)).status).toBe(401);
    const behindCloudFront = gatewayFromEnv({
      ...env,
      SLUICE_AUTH_TOKEN_HEADER: 'x-sluice-authorization',
    });
    expect((await embed(behindCloudFront.app, headers)).status).toBe(200);
  });

  it('turns an admin weight change into a Step Functions traffic shift when the ARN is set', async () => {
    const arn = 'arn:aws:states:us-east-1:111111111111:stateMachine:sluice-traffic';
    const sfn = mockClient(SFNClient);
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${arn}:x`, startDate: new Date() });
    try {
      const config = {
        models: [
          {
            id: 'e',
            kind: 'embedding',
            policy: 'batch',
            format: 'tei',
            targets: [
              { id: 'stable', endpoint: 'embed-ep', variant: 'blue', weight: 95 },
              { id: 'canary', endpoint: 'embed-ep', variant: 'green', weight: 5 },
            ],
          },
        ],
      };
      const { app, registry } = gatewayFromEnv({
        ...env,
        SLUICE_CONFIG_JSON: JSON.stringify(config),
        SLUICE_TRAFFIC_STATE_MACHINE_ARN: arn,
      });
      const claims = {
        ...accessClaims(`${jwks.url}/pool`, Math.floor(Date.now() / 1000)),
        scope: 'inference/admin',
      };
      const auth = { authorization: `Bearer ${await sign(key, claims)}` };
      const current = await app.request('/admin/models/e', { headers: auth });
      expect(current.status).toBe(200);
      const res = await app.request('/admin/models/e/weights', {
        method: 'PUT',
        headers: {
          ...auth,
          'content-type': 'application/json',
          'if-match': current.headers.get('etag')!,
        },
        body: JSON.stringify({ weights: { stable: 50, canary: 50 } }),
      });
      expect(res.status).toBeLessThan(300);
      const calls = sfn.commandCalls(StartExecutionCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input.stateMachineArn).toBe(arn);
      expect(registry.require('e').targets.map((t) => t.weight)).toEqual([50, 50]);
    } finally {
      sfn.restore();
    }
  });
});

describe('serveOptionsFromEnv', () => {
  it('listens on 0.0.0.0:8787 and drains for 10 s unless told otherwise', () => {
    const bounds = { headersTimeoutMs: 66_000, requestTimeoutMs: 300_000, maxConnections: 10_000 };
    expect(serveOptionsFromEnv({})).toEqual({
      host: '0.0.0.0',
      port: 8787,
      drainMs: 10_000,
      ...bounds,
    });
    expect(serveOptionsFromEnv({ HOST: '127.0.0.1', PORT: '0', SLUICE_DRAIN_MS: '25000' })).toEqual(
      { host: '127.0.0.1', port: 0, drainMs: 25_000, ...bounds },
    );
    expect(
      serveOptionsFromEnv({
        SLUICE_HEADERS_TIMEOUT_MS: '5000',
        SLUICE_REQUEST_TIMEOUT_MS: '30000',
        SLUICE_MAX_CONNECTIONS: '200',
      }),
    ).toMatchObject({ headersTimeoutMs: 5000, requestTimeoutMs: 30_000, maxConnections: 200 });
    expect(() => serveOptionsFromEnv({ SLUICE_MAX_CONNECTIONS: 'lots' })).toThrow(
      /SLUICE_MAX_CONNECTIONS/,
    );
  });

  it('refuses a drain time or port that is not a whole number in range, naming the variable', () => {
    expect(() => serveOptionsFromEnv({ SLUICE_DRAIN_MS: '10s' })).toThrow(/SLUICE_DRAIN_MS/);
    expect(() => serveOptionsFromEnv({ SLUICE_DRAIN_MS: '-1' })).toThrow(ConfigError);
    expect(() => serveOptionsFromEnv({ SLUICE_DRAIN_MS: '3600000' })).toThrow(/0 to 900000/);
    expect(() => serveOptionsFromEnv({ PORT: '70000' })).toThrow(/PORT/);
  });
});

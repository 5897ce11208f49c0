import type { InvokeTarget } from '../../../edge/invoke/invoker.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromMetrics } from '../../../edge/metrics/metrics.js';
import type { GatewayConfigInput } from '../../../shared/config/schema.js';
import type { AuditRecord, AuditSink } from '../../../edge/admin/audit.js';
import { bearer, identityHarness, StubInvoker, type IdentityHarness } from '../auth/harness.js';

let h: IdentityHarness;
let admin: string;
let operator: string;
let viewer: string;
beforeAll(async () => {
  h = await identityHarness();
  [admin, operator, viewer] = await Promise.all([
    h.token('admin'),
    h.token('operator'),
    h.token('viewer'),
  ]);
});
afterAll(() => h.close());

const models: GatewayConfigInput['models'] = [
  {
    id: 'chat-model',
    kind: 'chat',
    policy: 'admit',
    format: 'tgi',
    targets: [
      { id: 'stable', endpoint: 'chat-v1', weight: 90 },
      { id: 'canary', endpoint: 'chat-v2', weight: 10 },
    ],
  },
];

const setup = () => {
  const audit: AuditRecord[] = [];
  const sink: AuditSink = { write: (record) => void audit.push(record) };
  const invoker = new (class extends StubInvoker {
    override async checkReady(target: InvokeTarget): Promise<void> {
      if (target.endpoint === 'chat-v2') throw new Error('Endpoint is Updating');
    }
  })();
  const metrics = new PromMetrics();
  const { app, registry } = h.app({ config: { models }, audit: sink, invoker, metrics });
  const req = (
    method: string,
    path: string,
    token: string,
    init: { body?: unknown; ifMatch?: string } = {},
  ) =>
    app.request(path, {
      method,
      headers: {
        ...bearer(token),
        ...(init.ifMatch ? { 'if-match': init.ifMatch } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
  const etag = async () =>
    (await req('GET', '/admin/models/chat-model', viewer)).headers.get('etag')!;
  return { app, registry, audit, req, etag };
};

describe('admin API', () => {
  it('lists models with targets, weights, health and state', async () => {
    const { req } = setup();
    const res = await req('GET', '/admin/models', viewer);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      object: 'list',
      data: [
        {
          id: 'chat-model',
          kind: 'chat',
          policy: 'admit',
          state: 'serving',
          version: 1,
          etag: expect.stringMatching(/^"[0-9a-f]{8}-1"$/),
          traffic: 'memory',
          targets: [
            {
              id: 'stable',
              endpoint: 'chat-v1',
              variant: null,
              inferenceComponent: null,
              weight: 90,
              health: 'ready',
              circuit: 'closed',
            },
            {
              id: 'canary',
              endpoint: 'chat-v2',
              variant: null,
              inferenceComponent: null,
              weight: 10,
              health: 'unavailable',
              circuit: 'closed',
            },
          ],
        },
      ],
    });
  });

  it('sets weights with a matching If-Match and writes one audit line', async () => {
    const { req, etag, audit, registry } = setup();
    const tag = await etag();
    const res = await req('PUT', '/admin/models/chat-model/weights', admin, {
      ifMatch: tag,
      body: { weights: { stable: 50, canary: 50 } },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).not.toBe(tag);
    expect(registry.require('chat-model').targets.map((t) => t.weight)).toEqual([50, 50]);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor: { subject: 'user-admin', clientId: 'client-abc', roles: ['admin'] },
      action: 'weights.set',
      model: 'chat-model',
      before: { version: 1, state: 'serving', weights: { stable: 90, canary: 10 } },
      after: { version: 2, state: 'serving', weights: { stable: 50, canary: 50 } },
      requestId: expect.any(String),
    });
  });

  it('lets only one of two admins holding the same ETag win', async () => {
    const { req, etag, audit } = setup();
    const tag = await etag();
    const [a, b] = await Promise.all([
      req('PUT', '/admin/models/chat-model/weights', admin, {
        ifMatch: tag,
        body: { weights: { stable: 0, canary: 100 } },
      }),
      req('PUT', '/admin/models/chat-model/weights', admin, {
        ifMatch: tag,
        body: { weights: { stable: 100, canary: 0 } },
      }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
    expect(audit).toHaveLength(1);
  });

  it('requires If-Match on every change', async () => {
    const { req, audit } = setup();
    const res = await req('POST', '/admin/models/chat-model/pause', operator);
    expect(res.status).toBe(428);
    expect(await res.json()).toMatchObject({ error: { code: 'precondition_required' } });
    expect(audit).toEqual([]);
  });

  it('refuses unknown targets and weights that do not sum to 100, changing nothing', async () => {
    const { req, audit, registry } = setup();
    const unknown = await req('PUT', '/admin/models/chat-model/weights', admin, {
      ifMatch: '*',
      body: { weights: { stable: 50, blue: 50 } },
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'unknown_target', param: 'weights.blue' },
    });
    const sum = await req('PUT', '/admin/models/chat-model/weights', admin, {
      ifMatch: '*',
      body: { weights: { stable: 50 } },
    });
    expect(sum.status).toBe(400);
    expect(await sum.text()).toMatch(/sum to 60/);
    expect(registry.require('chat-model').version).toBe(1);
    expect(audit).toEqual([]);
  });

  it('rolls back to the previous weights, and refuses when there are none', async () => {
    const { req, audit } = setup();
    expect(
      (await req('POST', '/admin/models/chat-model/rollback', admin, { ifMatch: '*' })).status,
    ).toBe(409);
    await req('PUT', '/admin/models/chat-model/weights', admin, {
      ifMatch: '*',
      body: { weights: { stable: 0, canary: 100 } },
    });
    const res = await req('POST', '/admin/models/chat-model/rollback', admin, { ifMatch: '*' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { targets: { weight: number }[] };
    expect(body.targets.map((t) => t.weight)).toEqual([90, 10]);
    expect(audit.map((a) => a.action)).toEqual(['weights.set', 'weights.rollback']);
  });

  it('pauses, drains and resumes a model, which the inference path obeys', async () => {
    const { app, req, etag, audit } = setup();
    const chat = () =>
      app.request('/v1/chat/completions', {
        method: 'POST',
        headers: { ...bearer(admin), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] }),
      });
    expect(
      (await req('POST', '/admin/models/chat-model/pause', operator, { ifMatch: await etag() }))
        .status,
    ).toBe(200);
    const consumer = await h.token('consumer');
    const refused = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { ...bearer(consumer), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(refused.status).toBe(503);
    expect(
      (await req('POST', '/admin/models/chat-model/drain', operator, { ifMatch: await etag() }))
        .status,
    ).toBe(200);
    expect(
      (await req('POST', '/admin/models/chat-model/resume', operator, { ifMatch: await etag() }))
        .status,
    ).toBe(200);
    expect(
      audit.map((a) => [
        a.action,
        (a.before as { state: string }).state,
        (a.after as { state: string }).state,
      ]),
    ).toEqual([
      ['model.pause', 'serving', 'paused'],
      ['model.drain', 'paused', 'draining'],
      ['model.resume', 'draining', 'serving'],
    ]);
    // An admin token without the consumer scope may steer the model but not call it.
    expect((await chat()).status).toBe(403);
  });

  it('answers 404 for an unknown model', async () => {
    const { req } = setup();
    expect((await req('GET', '/admin/models/nope', viewer)).status).toBe(404);
  });
});

describe('GET /metrics', () => {
  it('renders Prometheus text for a Viewer', async () => {
    const { app } = setup();
    await app.request('/v1/models', { headers: bearer(await h.token('consumer')) });
    const res = await app.request('/metrics', { headers: bearer(viewer) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(
      /sluice_requests_total\{route="\/v1\/models",model="",status="200"\} 1/,
    );
  });

  it('answers 404 when no renderer is configured', async () => {
    const res = await h.app().app.request('/metrics', { headers: bearer(viewer) });
    expect(res.status).toBe(404);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvokeOptions } from '../../../edge/invoke/invoker.js';
import type { AuditRecord } from '../../../edge/admin/audit.js';
import { UpstreamError } from '../../../shared/errors.js';
import { bearer, identityHarness, StubInvoker, type IdentityHarness } from '../auth/harness.js';

let h: IdentityHarness;
beforeAll(async () => {
  h = await identityHarness();
});
afterAll(() => h.close());

/** A container that fails while `failing` is set, and counts the calls that reached it. */
class FlakyInvoker extends StubInvoker {
  failing = true;
  calls = 0;
  override async invoke(opts: InvokeOptions): Promise<unknown> {
    this.calls++;
    if (this.failing)
      throw new UpstreamError("Model 'chat-model' failed.", { code: 'model_error' });
    return super.invoke(opts);
  }
}

describe('circuit breakers through the gateway', () => {
  it('fail fast after repeated upstream failures until an operator resets them', async () => {
    const invoker = new FlakyInvoker();
    const audit: AuditRecord[] = [];
    const config = {
      models: [
        {
          id: 'chat-model',
          kind: 'chat' as const,
          policy: 'admit' as const,
          format: 'tgi' as const,
          endpoint: 'chat-ep',
          breaker: { failureThreshold: 3, cooldownMs: 60_000 },
        },
      ],
    };
    const { app } = h.app({ config, invoker, audit: { write: (r) => void audit.push(r) } });
    const [consumer, operator, viewer] = await Promise.all([
      h.token('consumer'),
      h.token('operator'),
      h.token('viewer'),
    ]);
    const chat = () =>
      app.request('/v1/chat/completions', {
        method: 'POST',
        headers: { ...bearer(consumer), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content: 'hi' }] }),
      });

    for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(502);
    const refused = await chat();
    expect(refused.status).toBe(503);
    expect((await refused.json()).error.code).toBe('circuit_open');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(invoker.calls).toBe(3);

    const listed = await app.request('/admin/models/chat-model', { headers: bearer(viewer) });
    expect((await listed.json()).targets[0].circuit).toBe('open');

    const reset = (token: string) =>
      app.request('/admin/models/chat-model/breakers/reset', {
        method: 'POST',
        headers: bearer(token),
      });
    expect((await reset(viewer)).status).toBe(403);
    expect((await reset(operator)).status).toBe(200);
    expect(audit.at(-1)).toMatchObject({
      action: 'breakers.reset',
      circuits: { before: { default: 'open' }, after: { default: 'closed' } },
    });

    invoker.failing = false;
    expect((await chat()).status).toBe(200);
  });
});

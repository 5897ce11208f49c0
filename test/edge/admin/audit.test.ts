import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { jsonAuditSink, teeAudit, type AuditRecord } from '../../../edge/admin/audit.js';
import { createJsonLogger } from '../../../edge/types.js';
import type { GatewayConfigInput } from '../../../shared/config/schema.js';
import { bearer, identityHarness, type IdentityHarness } from '../auth/harness.js';

let h: IdentityHarness;
let operator: string;
beforeAll(async () => {
  h = await identityHarness();
  operator = await h.token('operator');
});
afterAll(() => h.close());
afterEach(() => vi.restoreAllMocks());

const models: GatewayConfigInput['models'] = [
  { id: 'chat-model', kind: 'chat', policy: 'admit', format: 'openai', endpoint: 'chat-v1' },
];

const pause = (app: ReturnType<IdentityHarness['app']>['app']) =>
  app.request('/admin/models/chat-model/pause', {
    method: 'POST',
    headers: { ...bearer(operator), 'if-match': '*' },
  });

describe('the audit trail', () => {
  it('writes an admin change to stdout by default with the logger at LOG_LEVEL=error', async () => {
    const logged: string[] = [];
    const stdout: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    const logger = createJsonLogger({ level: 'error', write: (line) => logged.push(line) });
    const { app } = h.app({ config: { models }, logger });

    const res = await pause(app);
    vi.restoreAllMocks();

    expect(res.status).toBe(200);
    const lines = stdout.flatMap((s) => s.split('\n')).filter(Boolean);
    const audit = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toEqual([
      expect.objectContaining({
        level: 'audit',
        audit: true,
        message: 'admin change',
        action: 'model.pause',
        model: 'chat-model',
        actor: expect.objectContaining({ roles: ['operator'] }),
        before: expect.objectContaining({ state: 'serving' }),
        after: expect.objectContaining({ state: 'paused' }),
      }),
    ]);
    // The logger at `error` wrote nothing about it: the trail does not depend on it.
    expect(logged.join('\n')).not.toContain('model.pause');
  });

  it('writes a record to every sink even when one of them throws', () => {
    const seen: string[] = [];
    const sink = teeAudit(
      {
        write() {
          throw new Error('stream down');
        },
      },
      jsonAuditSink({ write: (line) => seen.push(line), clock: { now: () => 0 } }),
    );
    const record: AuditRecord = {
      action: 'weights.set',
      requestId: 'r1',
      actor: { subject: 's', clientId: null, roles: ['admin'] },
      model: 'm',
      before: {},
      after: {},
    };
    expect(() => sink.write(record)).toThrow('stream down');
    expect(JSON.parse(seen[0]!)).toMatchObject({
      level: 'audit',
      time: '1970-01-01T00:00:00.000Z',
      action: 'weights.set',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { EmfMetrics } from '../../../edge/metrics/emf.js';

describe('EmfMetrics', () => {
  it('aggregates values per model into one EMF line per flush', () => {
    const lines: string[] = [];
    const emf = new EmfMetrics({
      write: (l) => lines.push(l),
      now: () => 1_700_000_000_000,
      flushIntervalMs: 60_000,
    });
    emf.request({ route: '/v1/embeddings', model: 'e5', status: 200, latencyMs: 12 });
    emf.request({ route: '/v1/embeddings', model: 'e5', status: 200, latencyMs: 12 });
    emf.request({ route: '/v1/embeddings', model: 'e5', status: 502, latencyMs: 30 });
    emf.batch({ model: 'e5', target: 'default', size: 64, reason: 'full' });
    emf.queueWait({ model: 'e5', target: 'default', ms: 3.14159 });
    emf.close();
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!);
    expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Sluice/Gateway',
      Dimensions: [['Model']],
    });
    expect(doc.Model).toBe('e5');
    expect(doc.Requests).toEqual({ Values: [1], Counts: [3] });
    expect(doc.Latency).toEqual({ Values: [12, 30], Counts: [2, 1] });
    expect(doc.Errors5xx).toEqual({ Values: [0, 1], Counts: [2, 1] });
    expect(doc.BatchSize).toEqual({ Values: [64], Counts: [1] });
    expect(doc.QueueWait).toEqual({ Values: [3.1], Counts: [1] });
    const names = doc._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name);
    expect(names).toEqual(
      expect.arrayContaining(['Requests', 'Latency', 'Errors5xx', 'BatchSize', 'QueueWait']),
    );
  });

  it('flushes early rather than exceed 100 distinct values in one line', () => {
    const lines: string[] = [];
    const emf = new EmfMetrics({ write: (l) => lines.push(l), flushIntervalMs: 60_000 });
    for (let i = 0; i < 150; i++) emf.queueWait({ model: 'm', target: 't', ms: i });
    emf.close();
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l).QueueWait.Values.length).toBeLessThanOrEqual(100);
  });

  it('writes the per-target measures with the dimension sets [Model, Target] and [Model]', () => {
    const lines: string[] = [];
    const emf = new EmfMetrics({ write: (l) => lines.push(l), flushIntervalMs: 60_000 });
    emf.request({ route: '/v1/chat/completions', model: 'r1', status: 200, latencyMs: 900 });
    emf.generation({
      model: 'r1',
      target: 'canary',
      inputTokens: 12,
      outputTokens: 5,
      ttftMs: 100,
      tpotMs: 20,
      outputTokensPerSecond: 27.778,
    });
    emf.failover({ model: 'r1', from: 'canary', to: 'stable' });
    emf.retry({ model: 'r1', target: 'canary', reason: 'throttled' });
    emf.close();
    const docs = lines.map((l) => JSON.parse(l));
    const perModel = docs.find((d) => d.Target === undefined);
    expect(perModel._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Model']]);
    expect(perModel.Requests).toBeDefined();
    const perTarget = docs.find((d) => d.Target === 'canary');
    expect(perTarget._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Sluice/Gateway',
      Dimensions: [['Model', 'Target'], ['Model']],
    });
    expect(perTarget).toMatchObject({
      Model: 'r1',
      TimeToFirstToken: { Values: [100], Counts: [1] },
      TimePerOutputToken: { Values: [20], Counts: [1] },
      OutputTokensPerSecond: { Values: [27.8], Counts: [1] },
      InputTokens: { Values: [12], Counts: [1] },
      OutputTokens: { Values: [5], Counts: [1] },
      Failovers: { Values: [1], Counts: [1] },
      UpstreamRetries: { Values: [1], Counts: [1] },
    });
    const units = Object.fromEntries(
      perTarget._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string; Unit: string }) => [
        m.Name,
        m.Unit,
      ]),
    );
    expect(units).toMatchObject({
      TimeToFirstToken: 'Milliseconds',
      TimePerOutputToken: 'Milliseconds',
      OutputTokensPerSecond: 'Count/Second',
      InputTokens: 'Count',
      Failovers: 'Count',
    });
  });
});

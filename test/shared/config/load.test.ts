import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadGatewayConfig, parseGatewayConfig } from '../../../shared/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
const write = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
const chat = { id: 'm', kind: 'chat', policy: 'admit', format: 'tgi', endpoint: 'ep' };

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('gateway configuration', () => {
  it('fills defaults: 1 MiB body limit, batch 64 / 10 ms, one default target', () => {
    const config = parseGatewayConfig({ models: [chat] });
    expect(config.maxBodyBytes).toBe(1_048_576);
    expect(config.models[0]!.batch).toEqual({
      maxBatchSize: 64,
      maxDelayMs: 10,
      maxInflightBatches: 2,
      maxConcurrentBatches: 8,
      maxQueuedItems: 4096,
    });
    expect(config.models[0]!.targets).toEqual([
      { id: 'default', endpoint: 'ep', variant: undefined, weight: 100 },
    ]);
  });

  it('names the file, the field and the problem of an invalid config', () => {
    const path = write('bad.json', { models: [{ ...chat, policy: 'fastest' }] });
    const text = message(() => loadGatewayConfig({ path, env: {} }));
    expect(text).toContain(path);
    expect(text).toContain('models.0.policy');
    expect(text).toMatch(/batch|admit/);
  });

  it.each([
    [
      'weights that do not sum to 100',
      {
        ...chat,
        endpoint: undefined,
        targets: [
          { id: 'a', endpoint: 'x', weight: 60 },
          { id: 'b', endpoint: 'y', weight: 30 },
        ],
      },
      'models.0.targets',
    ],
    ['an embedding model with the tgi format', { ...chat, kind: 'embedding' }, 'models.0.format'],
    ['an invalid endpoint name', { ...chat, endpoint: 'bad_name!' }, 'models.0.endpoint'],
    ['an unknown field', { ...chat, colour: 'red' }, 'models.0'],
    ['no endpoint at all', { ...chat, endpoint: undefined }, 'models.0.endpoint'],
  ])('rejects %s', (_name, model, field) => {
    expect(message(() => parseGatewayConfig({ models: [model] }, 'x.json'))).toContain(field);
  });

  it('refuses the batch policy for a generation model', () => {
    expect(message(() => parseGatewayConfig({ models: [{ ...chat, policy: 'batch' }] }))).toContain(
      'models.0.policy',
    );
  });

  it('rejects duplicate model ids', () => {
    expect(message(() => parseGatewayConfig({ models: [chat, chat] }))).toContain(
      'duplicate model id m',
    );
  });

  it('reports unreadable and malformed files', () => {
    expect(
      message(() => loadGatewayConfig({ path: join(dir, 'missing.json'), env: {} })),
    ).toContain('ENOENT');
    expect(
      message(() => loadGatewayConfig({ path: write('broken.json', '{'), env: {} })),
    ).toContain('not valid JSON');
    expect(message(() => loadGatewayConfig({ env: {} }))).toContain('SLUICE_CONFIG');
  });

  it('reads SLUICE_CONFIG and applies environment overrides', () => {
    const path = write('good.json', { models: [chat] });
    const config = loadGatewayConfig({
      env: {
        SLUICE_CONFIG: path,
        SLUICE_MAX_BODY_BYTES: '2048',
        SLUICE_SAGEMAKER_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_REGION: 'eu-west-1',
      },
    });
    expect(config.maxBodyBytes).toBe(2048);
    expect(config.upstream).toMatchObject({
      endpointUrl: 'http://127.0.0.1:9',
      region: 'eu-west-1',
    });
  });

  it('reads the catalogue inline from SLUICE_CONFIG_JSON', () => {
    const config = loadGatewayConfig({
      env: { SLUICE_CONFIG_JSON: JSON.stringify({ models: [chat] }) },
    });
    expect(config.models[0]!.id).toBe('m');
    expect(message(() => loadGatewayConfig({ env: { SLUICE_CONFIG_JSON: '{' } }))).toContain(
      'SLUICE_CONFIG_JSON',
    );
  });

  it('rejects an override that is out of range', () => {
    const path = write('good2.json', { models: [chat] });
    expect(
      message(() =>
        loadGatewayConfig({ env: { SLUICE_CONFIG: path, SLUICE_MAX_BODY_BYTES: '9000000' } }),
      ),
    ).toContain('maxBodyBytes');
  });
});

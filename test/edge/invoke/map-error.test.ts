import { describe, expect, it } from 'vitest';
import { mapUpstreamError } from '../../../edge/invoke/map-error.js';
import { ClientClosedError } from '../../../shared/errors.js';
import { InvalidRequestError } from '../../../shared/errors.js';

const sdkError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(
    new Error(`${name}: arn:aws:sagemaker:us-east-1:123456789012:endpoint/secret-ep failed`),
    { name, ...extra },
  );

describe('mapUpstreamError', () => {
  const table: Array<[string, unknown, number, string, string | undefined]> = [
    [
      'ModelError with container 500',
      sdkError('ModelError', { OriginalStatusCode: 500 }),
      502,
      'model_error',
      undefined,
    ],
    [
      'ModelError with container 400',
      sdkError('ModelError', { OriginalStatusCode: 400 }),
      400,
      'model_rejected_input',
      undefined,
    ],
    [
      'ModelError with container 422',
      sdkError('ModelError', { OriginalStatusCode: 422 }),
      400,
      'model_rejected_input',
      undefined,
    ],
    [
      'ModelError with container 429',
      sdkError('ModelError', { OriginalStatusCode: 429 }),
      429,
      'model_overloaded',
      '2',
    ],
    ['ModelError without a status', sdkError('ModelError'), 502, 'model_error', undefined],
    ['ThrottlingException', sdkError('ThrottlingException'), 429, 'upstream_throttled', '2'],
    [
      'a retryable throttling error',
      Object.assign(new Error('x'), { name: 'Whatever', $retryable: { throttling: true } }),
      429,
      'upstream_throttled',
      '2',
    ],
    ['ModelNotReadyException', sdkError('ModelNotReadyException'), 503, 'model_not_ready', '2'],
    ['ServiceUnavailable', sdkError('ServiceUnavailable'), 503, 'upstream_unavailable', '2'],
    ['ValidationError', sdkError('ValidationError'), 502, 'upstream_validation_error', undefined],
    ['ModelStreamError', sdkError('ModelStreamError'), 502, 'model_stream_error', undefined],
    [
      'InternalStreamFailure',
      sdkError('InternalStreamFailure'),
      502,
      'internal_stream_failure',
      undefined,
    ],
    ['InternalFailure', sdkError('InternalFailure'), 502, 'upstream_internal_error', undefined],
    [
      'InternalDependencyException',
      sdkError('InternalDependencyException'),
      502,
      'upstream_internal_error',
      undefined,
    ],
    ['TimeoutError', sdkError('TimeoutError'), 504, 'upstream_timeout', undefined],
    [
      'ETIMEDOUT',
      Object.assign(new Error('x'), { code: 'ETIMEDOUT' }),
      504,
      'upstream_timeout',
      undefined,
    ],
    [
      'ECONNREFUSED',
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
      503,
      'upstream_unreachable',
      '2',
    ],
    [
      'a TimeoutError the SDK raised for a reset socket',
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' }),
      502,
      'upstream_connection_reset',
      undefined,
    ],
    [
      'ECONNRESET',
      Object.assign(new Error('x'), { code: 'ECONNRESET' }),
      502,
      'upstream_connection_reset',
      undefined,
    ],
    [
      'an HTTP 503 without a name we know',
      Object.assign(new Error('x'), { name: 'Odd', $metadata: { httpStatusCode: 503 } }),
      503,
      'upstream_unavailable',
      '2',
    ],
    ['anything else', new TypeError('boom'), 502, 'upstream_error', undefined],
    ['a thrown string', 'boom', 502, 'upstream_error', undefined],
  ];

  it.each(table)('maps %s', (_name, err, status, code, retryAfter) => {
    const mapped = mapUpstreamError(err, 'm1');
    expect(mapped.status).toBe(status);
    expect(mapped.code).toBe(code);
    expect(mapped.headers()['retry-after']).toBe(retryAfter);
    // The caller sees the model's name, never the upstream message (ARNs, account ids).
    expect(mapped.message).toContain("'m1'");
    expect(mapped.message).not.toMatch(/arn:|123456789012|secret-ep|\n\s+at /);
    expect(JSON.stringify(mapped.toJSON())).not.toContain('arn:');
  });

  it('keeps the container message out of the details that reach the log', () => {
    const mapped = mapUpstreamError(sdkError('ModelError', { OriginalStatusCode: 500 }), 'm1');
    expect(mapped.details).toEqual({ upstream: 'ModelError', originalStatus: 500 });
    expect(JSON.stringify(mapped.details)).not.toContain('secret-ep');
  });

  it('passes a gateway error through unchanged', () => {
    const own = new InvalidRequestError('x');
    expect(mapUpstreamError(own, 'm1')).toBe(own);
  });

  it('maps an abort to the client-closed marker', () => {
    expect(mapUpstreamError(sdkError('AbortError'), 'm1')).toBeInstanceOf(ClientClosedError);
  });
});

import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../edge/coalesce/breaker.js';
import { ClientClosedError } from '../../../shared/errors.js';
import {
  GatewayTimeoutError,
  InternalError,
  InvalidRequestError,
  RateLimitError,
  ServiceUnavailableError,
  UpstreamError,
} from '../../../shared/errors.js';

const setup = () => {
  let now = 0;
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    cooldownMs: 1000,
    clock: { now: () => now },
    label: "Model 'm'",
  });
  return { breaker, advance: (ms: number) => (now += ms) };
};
const upstream = () => new UpstreamError('x', { code: 'model_error' });

describe('CircuitBreaker', () => {
  it('opens after consecutive upstream failures and refuses with 503 circuit_open', () => {
    const { breaker } = setup();
    for (let i = 0; i < 3; i++) {
      breaker.admit();
      breaker.record(upstream());
    }
    expect(breaker.state).toBe('open');
    expect(() => breaker.admit()).toThrow(
      expect.objectContaining({ status: 503, code: 'circuit_open' }),
    );
  });

  it('reads whose failure it was from the origin, not the code', () => {
    const { breaker } = setup();
    const notCounted = [
      new GatewayTimeoutError('queued too long', { code: 'queue_timeout' }),
      new ServiceUnavailableError('paused', 30, { code: 'upstream_unavailable' }),
      new InternalError({ cause: new TypeError('a defect of ours') }),
      new TypeError('not a GatewayError'),
      new InvalidRequestError('container said 400', { origin: 'upstream' }),
    ];
    for (const e of [...notCounted, ...notCounted]) {
      breaker.admit();
      breaker.record(e);
    }
    expect(breaker.state).toBe('closed');
    for (const e of [
      new GatewayTimeoutError('slow', { origin: 'upstream' }),
      new ServiceUnavailableError('down', 2, { origin: 'upstream' }),
      upstream(),
    ]) {
      breaker.admit();
      breaker.record(e);
    }
    expect(breaker.state).toBe('open');
  });

  it('counts only failures that speak about the endpoint', () => {
    const { breaker } = setup();
    for (const e of [
      new InvalidRequestError('bad'),
      new ClientClosedError(),
      new RateLimitError('full', 1, { code: 'queue_full' }),
      upstream(),
      upstream(),
    ]) {
      breaker.admit();
      breaker.record(e);
    }
    expect(breaker.state).toBe('closed');
  });

  it('resets the count on a success', () => {
    const { breaker } = setup();
    breaker.record(upstream());
    breaker.record(upstream());
    breaker.record(undefined);
    breaker.record(upstream());
    breaker.record(upstream());
    expect(breaker.state).toBe('closed');
  });

  it('lets one probe through after the cooldown: success closes, failure reopens', () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.record(upstream());
    advance(1000);
    expect(breaker.state).toBe('half-open');
    breaker.admit();
    expect(() => breaker.admit()).toThrow(expect.objectContaining({ code: 'circuit_open' }));
    breaker.record(upstream());
    expect(breaker.state).toBe('open');
    advance(1000);
    breaker.admit();
    breaker.record(undefined);
    expect(breaker.state).toBe('closed');
    expect(() => breaker.admit()).not.toThrow();
  });

  it('does not stay stuck when a probe never reports', () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.record(upstream());
    advance(1000);
    breaker.admit();
    advance(999);
    expect(() => breaker.admit()).toThrow();
    advance(1);
    expect(() => breaker.admit()).not.toThrow();
  });

  it('closes on reset', () => {
    const { breaker } = setup();
    for (let i = 0; i < 3; i++) breaker.record(upstream());
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(() => breaker.admit()).not.toThrow();
  });
});

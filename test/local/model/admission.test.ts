import { describe, expect, it } from 'vitest';
import { EndpointFault } from '../../../local/endpoint/backend.js';
import { Admission } from '../../../local/model/admission.js';

const never = new AbortController().signal;

describe('Admission', () => {
  it('admits up to its slots and hands a released slot to the next waiter', async () => {
    const admission = new Admission(1, 4);
    const release = await admission.acquire(never);
    let admitted = false;
    const waiter = admission.acquire(never).then((r) => {
      admitted = true;
      return r;
    });
    await Promise.resolve();
    expect(admitted).toBe(false);
    release();
    (await waiter)();
    expect(admitted).toBe(true);
  });

  it('answers Model is overloaded (429) when the queue is full', async () => {
    const admission = new Admission(1, 1);
    await admission.acquire(never);
    void admission.acquire(never);
    const error = await admission.acquire(never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EndpointFault);
    expect(error).toMatchObject({ kind: 'model', originalStatus: 429 });
  });

  it('drops a waiter whose caller aborts', async () => {
    const admission = new Admission(1, 1);
    const release = await admission.acquire(never);
    const controller = new AbortController();
    const waiter = admission.acquire(controller.signal).catch((e: unknown) => e);
    controller.abort();
    expect(await waiter).toBeInstanceOf(EndpointFault);
    release();
    // The slot is free again, not handed to the aborted waiter.
    const next = await admission.acquire(never);
    expect(typeof next).toBe('function');
  });
});

import type { Scheduler } from '../../../edge/coalesce/scheduler.js';

/** A scheduler whose time moves only when the test says so. */
export const manualScheduler = () => {
  let now = 0;
  let soon: Array<() => void> = [];
  const timers = new Set<{ at: number; fn: () => void }>();
  const scheduler: Scheduler = {
    after(ms, fn) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return () => timers.delete(t);
    },
    soon(fn) {
      soon.push(fn);
    },
    now: () => now,
  };
  /** Runs the `soon` callbacks queued so far (the end of the current I/O burst). */
  const tick = () => {
    const run = soon;
    soon = [];
    run.forEach((fn) => fn());
  };
  /** Moves time forward, firing due timers in order. */
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...timers].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers.delete(due);
      now = due.at;
      due.fn();
    }
    now = until;
  };
  return { scheduler, tick, advance, pendingTimers: () => timers.size };
};

/** Lets promise callbacks run. */
export const flush = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
};

import type { Clock } from '../types.js';

/** One administrative change: who did what to which model, before and after. */
export interface AuditRecord {
  /** `weights.set`, `weights.rollback`, `model.pause`, `breakers.reset`, … */
  action: string;
  requestId: string;
  actor: { subject: string; clientId: string | null; roles: readonly string[] };
  model: string;
  before: unknown;
  after: unknown;
  [extra: string]: unknown;
}

/**
 * Where admin changes are written. Unlike the logger it has no level: a deployment that turns
 * logs down to `warn` or `error` still keeps every change.
 */
export interface AuditSink {
  write(record: AuditRecord): void;
}

/**
 * Audit lines as JSON on a writable, whatever `LOG_LEVEL` says: `{"level":"audit","audit":true,
 * "time":…,"message":"admin change",…}`.
 * @default write one line to stdout
 */
export const jsonAuditSink = (
  options: { write?: (line: string) => void; clock?: Clock; base?: Record<string, unknown> } = {},
): AuditSink => {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const now = options.clock ? () => options.clock!.now() : Date.now;
  const base = options.base ?? {};
  return {
    write(record) {
      write(
        JSON.stringify({
          level: 'audit',
          audit: true,
          time: new Date(now()).toISOString(),
          message: 'admin change',
          ...base,
          ...record,
        }),
      );
    },
  };
};

/** Writes every record to each sink; one sink that throws does not keep it from the others. */
export const teeAudit = (...sinks: AuditSink[]): AuditSink => ({
  write(record) {
    let failure: unknown;
    for (const sink of sinks) {
      try {
        sink.write(record);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  },
});

import type { FirehoseClient } from '@aws-sdk/client-firehose';
import { jsonAuditSink, teeAudit, type AuditSink } from '../admin/audit.js';
import type { Logger } from '../types.js';
import { FirehoseUsageWriter } from './firehose.js';
import { BatchingUsageSink, logUsageWriter, type UsageSink, type UsageWriter } from './sink.js';

/** Variables {@link usageFromEnv} reads. */
export interface UsageEnv {
  /** Firehose stream for usage and audit records (the deployment sets it). @default none */
  SLUICE_USAGE_STREAM?: string;
  [name: string]: string | undefined;
}

/**
 * Usage records and the audit sink of a deployment: both always as JSON lines on stdout, whatever
 * `LOG_LEVEL` says, and with `SLUICE_USAGE_STREAM` also to that Firehose stream (audit records as
 * `type: 'audit'`). Call `usage.flush()` before the process exits.
 */
export const usageFromEnv = (
  env: UsageEnv,
  deps: { logger: Logger; firehose?: FirehoseClient },
): { usage: BatchingUsageSink; audit: AuditSink } => {
  const writers: UsageWriter[] = [logUsageWriter()];
  const stream = env.SLUICE_USAGE_STREAM;
  if (stream) {
    writers.push(
      new FirehoseUsageWriter({
        deliveryStreamName: stream,
        ...(deps.firehose ? { client: deps.firehose } : {}),
      }),
    );
  }
  const usage = new BatchingUsageSink({ writers, logger: deps.logger });
  const audit = stream ? teeAudit(jsonAuditSink(), streamAuditSink(usage)) : jsonAuditSink();
  return { usage, audit };
};

/** Admin changes into the usage stream, as `type: 'audit'` records. */
export const streamAuditSink = (usage: UsageSink): AuditSink => ({
  write(record) {
    usage.record({
      type: 'audit',
      time: new Date().toISOString(),
      request_id: record.requestId,
      principal: record.actor.subject,
      action: record.action,
      model: record.model,
      audit: JSON.stringify(record),
    });
  },
});

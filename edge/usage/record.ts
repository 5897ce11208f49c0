/**
 * One request's usage, for chargeback: who, which model, how many tokens, when, how it ended.
 * Never content. Field names are the Glue table's columns (snake_case, see
 * `cdk/constructs/usage-stream.ts`), so Athena reads the records as they are written.
 */
export interface UsageRecord {
  type: 'usage';
  /** End of the request, ISO 8601 UTC. */
  time: string;
  /** Start of the request, ISO 8601 UTC. */
  start_time: string;
  request_id: string;
  tenant: string;
  /** The principal's `sub`. */
  principal: string;
  /** The app client the token was issued to (`none` when it names none). */
  principal_class: string;
  model: string;
  /** The target that served it, when the model has one target; null otherwise. */
  target: string | null;
  /** `chat` or `completion`. */
  kind: string;
  stream: boolean;
  /** HTTP status the client got (200 for a stream that started, whatever happened later). */
  status: number;
  /** `ok`, `error` (with `error_code`), `client_closed`. */
  outcome: 'ok' | 'error' | 'client_closed';
  error_code: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  /** Whether the token counts are the container's (false: it reported none). */
  usage_reported: boolean;
  /** Tokens reserved before the request ran (0 without quotas). */
  estimated_tokens: number;
  /** Tokens charged to the quota counters. */
  charged_tokens: number;
  latency_ms: number;
}

/** An admin change as the usage stream carries it: `type: 'audit'`, the change as JSON text. */
export interface AuditStreamRecord {
  type: 'audit';
  time: string;
  request_id: string;
  principal: string;
  action: string;
  model: string;
  /** The whole audit record, JSON. */
  audit: string;
}

export type StreamRecord = UsageRecord | AuditStreamRecord;

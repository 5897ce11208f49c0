import type { Context } from 'hono';
import { toGatewayError } from '../../shared/errors.js';
import type { GenerationRequest, Usage } from '../formats/generation.js';
import type { ModelRuntime } from '../models/registry.js';
import { estimateTokens } from '../quota/estimate.js';
import { principalClassOf, type QuotaGate, type QuotaReservation } from '../quota/gate.js';
import type { AppEnv, Clock } from '../types.js';
import type { UsageSink } from './sink.js';

export interface MeteringOptions {
  clock: Clock;
  /** Token quotas; absent, nothing is reserved or refused. */
  quota?: QuotaGate | undefined;
  /** Usage records; absent, none are written. */
  usage?: UsageSink | undefined;
  /** Characters per prompt token of the estimate (`quotas.charsPerToken`). @default 3 */
  charsPerToken?: number;
}

/** How a metered generation ended. */
export interface MeterOutcome {
  /** The last usage the container reported, if any. */
  usage?: Usage | undefined;
  /** Set when it failed (or the client left). */
  error?: unknown;
  /** True once any of the answer reached the client (a stream that started). */
  started?: boolean;
  /** True when the client went away before the end. */
  clientLeft?: boolean;
}

/** One generation's reservation and record; `finish` exactly once. */
export interface Meter {
  /** Runs a whole (non-streamed) generation and finishes the meter with its outcome. */
  track<T extends { usage: Usage | undefined }>(work: Promise<T>): Promise<T>;
  finish(outcome: MeterOutcome): void;
}

/**
 * Token quotas and usage records around each generation. `start` reserves the request's estimate
 * for its tenant and principal class (429 `quota_exceeded` when a window has no room) and sets
 * the `x-ratelimit-*-tokens` headers; `finish` settles the reservation and writes one usage
 * record.
 *
 * What a request is charged: the usage the container reported (a stream's last `usage` event;
 * the gateway always asks for one). Without it, the reservation is kept whole when the request
 * may have run (the client left, or a stream broke after it started) and released when nothing
 * ran (a refusal or an upstream failure before any output).
 */
export class Metering {
  private readonly charsPerToken: number;

  constructor(private readonly options: MeteringOptions) {
    this.charsPerToken = options.charsPerToken ?? 3;
  }

  async start(
    c: Context<AppEnv>,
    model: ModelRuntime,
    request: GenerationRequest,
    stream: boolean,
  ): Promise<Meter> {
    const { clock, quota, usage } = this.options;
    const started = clock.now();
    const principal = c.get('principal');
    const subject = { tenant: principal.tenant, principalClass: principalClassOf(principal) };
    let reservation: QuotaReservation | undefined;
    const estimate = quota ? estimateTokens(request, this.charsPerToken) : 0;
    if (quota) {
      reservation = await quota.reserve(subject, estimate);
      for (const [name, value] of Object.entries(reservation.headers)) c.header(name, value);
    }
    let finished = false;
    const finish = (outcome: MeterOutcome): void => {
      if (finished) return;
      finished = true;
      const reported = outcome.usage;
      const error = outcome.error === undefined ? undefined : toGatewayError(outcome.error);
      const clientLeft = outcome.clientLeft === true || error?.origin === 'client';
      const mayHaveRun = clientLeft || outcome.started === true || error === undefined;
      const settlement = reported
        ? {
            promptTokens: reported.promptTokens,
            completionTokens: reported.completionTokens,
            ...(reported.reasoningTokens === undefined
              ? {}
              : { reasoningTokens: reported.reasoningTokens }),
          }
        : mayHaveRun
          ? ('keep' as const)
          : ('release' as const);
      void reservation?.settle(settlement);
      if (!usage) return;
      const ended = clock.now();
      const charged = reported
        ? reported.promptTokens + reported.completionTokens
        : settlement === 'keep'
          ? estimate
          : 0;
      usage.record({
        type: 'usage',
        time: new Date(ended).toISOString(),
        start_time: new Date(started).toISOString(),
        request_id: c.get('requestId'),
        tenant: subject.tenant,
        principal: principal.subject,
        principal_class: subject.principalClass,
        model: model.config.id,
        target: model.targets.length === 1 ? model.targets[0]!.id : null,
        kind: request.kind,
        stream,
        status: outcome.started ? 200 : error ? error.status : 200,
        outcome: clientLeft ? 'client_closed' : error ? 'error' : 'ok',
        error_code: error?.code ?? null,
        prompt_tokens: reported?.promptTokens ?? 0,
        completion_tokens: reported?.completionTokens ?? 0,
        reasoning_tokens: reported?.reasoningTokens ?? 0,
        usage_reported: reported !== undefined,
        estimated_tokens: estimate,
        charged_tokens: quota ? charged : 0,
        latency_ms: ended - started,
      });
    };
    return {
      finish,
      async track(work) {
        try {
          const result = await work;
          finish({ usage: result.usage });
          return result;
        } catch (error) {
          finish({ error, clientLeft: c.req.raw.signal.aborted });
          throw error;
        }
      },
    };
  }
}

import type { GenerationChunk, Usage } from '../formats/generation.js';
import type { GatewayMetrics, GenerationMeasures } from '../metrics/metrics.js';
import type { Logger } from '../types.js';

/** Who asked, for the generation's log line; never a metric label. */
export interface GenerationCaller {
  requestId: string;
  tenant: string;
}

/**
 * Times one generation on the scheduler's monotonic clock and reports it: one `generation`
 * metrics event and one log line (tenant, tokens, times; never content).
 *
 * - time to first token (streams): from entering the pipeline to the first content, reasoning
 *   or tool-call delta;
 * - time per output token (streams): (last token − first token) / (output tokens − 1), with the
 *   container's own output token count;
 * - output tokens/s: output tokens over the time from sending the call upstream to its last
 *   token (a whole answer's arrival for calls that do not stream).
 */
export class GenerationTimer {
  private sentAt: number | undefined;
  private firstTokenAt: number | undefined;
  private lastTokenAt: number | undefined;
  private usage: Usage | undefined;

  constructor(
    private readonly labels: { model: string; target: string },
    private readonly now: () => number,
    private readonly enteredAt = now(),
  ) {}

  /** The call leaves for the container (after admission; retries do not move it). */
  sent(): void {
    this.sentAt ??= this.now();
  }

  /** A stream chunk arrived. */
  chunk(chunk: GenerationChunk): void {
    if (chunk.usage) this.usage = chunk.usage;
    if (!chunk.deltas.some(carriesTokens)) return;
    const at = this.now();
    this.firstTokenAt ??= at;
    this.lastTokenAt = at;
  }

  /** A whole answer arrived. */
  answered(usage: Usage | undefined): void {
    this.usage = usage;
    this.lastTokenAt = this.now();
  }

  /** Reports a generation that completed. */
  report(metrics: GatewayMetrics, logger: Logger, caller: GenerationCaller, stream: boolean) {
    const measures = this.measures(stream);
    metrics.generation(measures);
    logger.info(
      {
        requestId: caller.requestId,
        tenant: caller.tenant,
        ...measures,
        stream,
        durationMs: round(this.now() - this.enteredAt),
      },
      'generation',
    );
  }

  private measures(stream: boolean): GenerationMeasures {
    const usage = this.usage;
    const out = usage?.completionTokens;
    const measures: GenerationMeasures = {
      ...this.labels,
      inputTokens: usage?.promptTokens ?? 0,
      outputTokens: out ?? 0,
      ...(usage?.reasoningTokens === undefined ? {} : { reasoningTokens: usage.reasoningTokens }),
    };
    if (stream && this.firstTokenAt !== undefined) {
      measures.ttftMs = round(this.firstTokenAt - this.enteredAt);
      if (out !== undefined && out > 1 && this.lastTokenAt! > this.firstTokenAt)
        measures.tpotMs = round((this.lastTokenAt! - this.firstTokenAt) / (out - 1));
    }
    const span =
      this.sentAt === undefined || this.lastTokenAt === undefined
        ? 0
        : this.lastTokenAt - this.sentAt;
    if (out !== undefined && out > 0 && span > 0)
      measures.outputTokensPerSecond = round((out * 1000) / span);
    return measures;
  }
}

const carriesTokens = (d: GenerationChunk['deltas'][number]): boolean =>
  !!d.content || !!d.reasoning || (d.toolCalls !== undefined && d.toolCalls.length > 0);

const round = (x: number): number => Math.round(x * 1000) / 1000;

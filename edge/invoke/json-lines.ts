/**
 * Re-assembles whole lines from stream parts. A container writes JSON lines (or TGI's
 * `data:` events), but SageMaker cuts the byte stream into `PayloadPart`s wherever it likes:
 * one line may span several parts, one part may hold several lines, and a multi-byte UTF-8
 * character may be split between parts.
 */
export class LineAssembler {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private pending = '';

  /** Feeds one part; returns the complete lines it finished, without their newlines. */
  push(bytes: Uint8Array): string[] {
    this.pending += this.decoder.decode(bytes, { stream: true });
    const lines = this.pending.split('\n');
    this.pending = lines.pop()!;
    return lines;
  }

  /** Ends the stream; returns a last line that had no newline, if any. */
  end(): string[] {
    const rest = this.pending + this.decoder.decode();
    this.pending = '';
    return rest.trim() === '' ? [] : [rest];
  }
}

/**
 * The JSON payload of one line, or `undefined` for lines that carry none (blank lines,
 * SSE comments and `event:`/`id:` fields).
 * @throws SyntaxError for a payload line that is not JSON
 */
export const parsePayloadLine = (line: string): unknown => {
  let text = line.trim();
  if (text === '' || text.startsWith(':') || /^(event|id|retry):/.test(text)) return undefined;
  if (text.startsWith('data:')) text = text.slice(5).trim();
  if (text === '' || text === '[DONE]') return undefined;
  return JSON.parse(text);
};

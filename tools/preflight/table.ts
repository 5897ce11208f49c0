import type { CheckResult, Status } from './types.js';

const LABEL: Record<Status, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  unverified: 'UNVERIFIED',
  skip: 'SKIP',
};

/** Width of the detail column; long text wraps at word boundaries. */
const DETAIL_WIDTH = 72;
const SUBJECT_MAX = 40;

/**
 * The results as a plain-text table (no colour, so it reads the same in CI logs), the fix under
 * each detail that needs one, and a one-line count.
 */
export function renderTable(results: readonly CheckResult[]): string {
  const width = (values: string[], cap: number): number =>
    Math.min(cap, Math.max(...values.map((v) => v.length)));
  const w = {
    status: width(['RESULT', ...results.map((r) => LABEL[r.status])], 12),
    check: width(['CHECK', ...results.map((r) => r.check)], 12),
    subject: width(['SUBJECT', ...results.map((r) => r.subject)], SUBJECT_MAX),
  };
  const lines = [row(w, ['RESULT', 'CHECK', 'SUBJECT', 'DETAIL / FIX'])];
  for (const r of results) {
    const detail = [...wrap(r.detail, DETAIL_WIDTH)];
    if (r.fix && r.status !== 'pass') detail.push(...wrap(`fix: ${r.fix}`, DETAIL_WIDTH));
    lines.push(row(w, [LABEL[r.status], r.check, r.subject, detail]));
  }
  return `${lines.join('\n')}\n\n${summary(results)}`;
}

/** `5 passed, 1 failed, …`, leaving out zero counts. */
export function summary(results: readonly CheckResult[]): string {
  const count = (s: Status): number => results.filter((r) => r.status === s).length;
  const parts = [
    [count('pass'), 'passed'],
    [count('fail'), 'failed'],
    [count('unverified'), 'could not be verified'],
    [count('skip'), 'skipped'],
  ] as const;
  return parts
    .filter(([n]) => n > 0)
    .map(([n, word]) => `${n} ${word}`)
    .join(', ');
}

type Widths = { status: number; check: number; subject: number };

function row(w: Widths, cells: [string, string, string, string | string[]]): string {
  const columns: [string[], string[], string[], string[]] = [
    wrap(cells[0], w.status),
    wrap(cells[1], w.check),
    wrap(cells[2], w.subject),
    Array.isArray(cells[3]) ? cells[3] : [cells[3]],
  ];
  const height = Math.max(...columns.map((c) => c.length));
  const out: string[] = [];
  for (let i = 0; i < height; i++) {
    out.push(
      [
        (columns[0][i] ?? '').padEnd(w.status),
        (columns[1][i] ?? '').padEnd(w.check),
        (columns[2][i] ?? '').padEnd(w.subject),
        columns[3][i] ?? '',
      ]
        .join('  ')
        .trimEnd(),
    );
  }
  return out.join('\n');
}

/** Splits text into lines of at most `width` characters at spaces; a longer word is cut. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let rest = word;
    while (rest.length > width) {
      if (line) lines.push(line);
      lines.push(rest.slice(0, width));
      rest = rest.slice(width);
      line = '';
    }
    if (!line) line = rest;
    else if (line.length + 1 + rest.length <= width) line += ` ${rest}`;
    else {
      lines.push(line);
      line = rest;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

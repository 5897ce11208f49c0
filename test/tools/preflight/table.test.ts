import { describe, expect, it } from 'vitest';
import { renderTable, wrap } from '../../../tools/preflight/table.js';

describe('the preflight table', () => {
  it('aligns the columns and prints the fix under a failed row only', () => {
    const text = renderTable([
      { check: 'account', subject: '123456789012', status: 'pass', detail: 'fine', fix: 'unused' },
      {
        check: 'quotas',
        subject: 'ml.g5.2xlarge',
        status: 'fail',
        detail: 'quota 2, needs 4',
        fix: 'Request an increase.',
      },
    ]).split('\n');
    expect(text).toEqual([
      'RESULT  CHECK    SUBJECT        DETAIL / FIX',
      'PASS    account  123456789012   fine',
      'FAIL    quotas   ml.g5.2xlarge  quota 2, needs 4',
      '                                fix: Request an increase.',
      '',
      '1 passed, 1 failed',
    ]);
  });

  it('counts every status in the summary and leaves out the empty ones', () => {
    const text = renderTable([
      { check: 'images', subject: 'a', status: 'unverified', detail: 'd', fix: 'f' },
      { check: 'artifacts', subject: 'b', status: 'skip', detail: 'd', fix: 'f' },
    ]);
    expect(text.split('\n').at(-1)).toBe('1 could not be verified, 1 skipped');
  });

  it('wraps long text at spaces and cuts a word longer than the column', () => {
    expect(wrap('one two three four', 9)).toEqual(['one two', 'three', 'four']);
    expect(wrap('arn:aws:acm:us-east-1', 8)).toEqual(['arn:aws:', 'acm:us-e', 'ast-1']);
    expect(wrap('', 5)).toEqual(['']);
  });
});

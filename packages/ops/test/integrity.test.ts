import { describe, expect, it } from 'vitest';
import { describeProblem, formatReport, IntegrityAnalyzer, MAX_ITEMS, type ClosedEpoch, type CounterRow, type IntegrityReport, type LedgerRow, type NumberHolder } from '../src/integrity.js';

const A = 'TRANSMITTAL|-|PROJECT=LCBP3|ORIGINATOR=A';
const B = 'CORRESPONDENCE|2026|PROJECT=LCBP3|ORIGINATOR=B';

const series = (counterKey: string, epoch: number, sequences: number[]): LedgerRow[] => sequences.map((sequence) => ({ counterKey, epoch, sequence }));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Rows sorted as the command's ORDER BY counter_key, epoch, sequence returns them. */
function analyze(counters: CounterRow[], rows: LedgerRow[], opts: { closed?: ClosedEpoch[]; numbers?: NumberHolder[] } = {}): IntegrityReport {
  const a = new IntegrityAnalyzer(counters, opts.closed);
  const sorted = [...rows].sort((x, y) => (x.counterKey < y.counterKey ? -1 : x.counterKey > y.counterKey ? 1 : x.epoch - y.epoch || x.sequence - y.sequence));
  for (const r of sorted) a.add(r);
  a.addDuplicateNumbers(opts.numbers ?? []);
  return a.finish();
}

const kinds = (r: IntegrityReport) => r.problems.map((p) => `${p.counterKey}#${p.epoch ?? ''} ${p.kind} ${p.items.map((i) => (i.from === i.to ? `${i.from}` : `${i.from}-${i.to}`) + (i.rows ? `x${i.rows}` : '')).join(',')}`);

describe('IntegrityAnalyzer', () => {
  const counters: CounterRow[] = [
    { counterKey: A, epoch: 1, current: 10, max: 999_999 },
    { counterKey: B, epoch: 1, current: 5, max: 9999 },
  ];

  it('passes a ledger with every sequence 1..current exactly once', () => {
    const r = analyze(counters, [...series(A, 1, range(1, 10)), ...series(B, 1, range(1, 5))]);
    expect(r.problems).toEqual([]);
    expect(r.ledgerRows).toBe(15);
    expect(r.series.map((s) => [s.counterKey, s.state, s.limit, s.ledgerRows, s.highest])).toEqual([
      [B, 'current', 5, 5, 5],
      [A, 'current', 10, 10, 10],
    ]);
    expect(formatReport(r).at(-1)).toMatch(/^integrity ok: 2 counters, 2 series, 15 ledger rows/);
  });

  it('finds gaps inside and at the end, as ranges', () => {
    const r = analyze(counters, [...series(A, 1, [1, 2, 4, 8, 9]), ...series(B, 1, [1, 2, 3])]);
    expect(kinds(r)).toEqual([`${B}#1 gap 4-5`, `${A}#1 gap 3,5-7,10`]);
    expect(r.problems[1]!.count).toBe(5);
    expect(describeProblem(r.problems[1]!)).toBe(`${A} epoch 1: gap: 5 sequences missing from the ledger: 3, 5-7, 10`);
  });

  it('finds duplicate sequences with their row counts, and sequences above current_value', () => {
    const r = analyze(counters, [...series(A, 1, [...range(1, 10), 3, 3, 7, 11, 12, 14]), ...series(B, 1, range(1, 5))]);
    expect(kinds(r)).toEqual([`${A}#1 duplicate-sequence 3x3,7x2`, `${A}#1 above-current 11-12,14`]);
    expect(describeProblem(r.problems[0]!)).toBe(`${A} epoch 1: duplicate-sequence: 2 sequences in the ledger more than once: 3 (3 rows), 7 (2 rows)`);
    expect(describeProblem(r.problems[1]!)).toContain('above current_value 10: 11-12, 14');
    // Sequences above current are not also reported as a gap (13 lies beyond current_value).
    expect(r.problems.some((p) => p.kind === 'gap')).toBe(false);
  });

  it('reports a counter past its maximum and a counter with no ledger rows at all', () => {
    const r = analyze([{ counterKey: A, epoch: 1, current: 3, max: 2 }, { counterKey: B, epoch: 1, current: 2, max: 9 }], series(A, 1, [1, 2, 3]));
    expect(kinds(r)).toEqual([`${B}#1 gap 1-2`, `${A}#1 over-max 3`]);
    expect(describeProblem(r.problems[1]!)).toBe(`${A} epoch 1: over-max: current_value 3 > max_value 2, 1 sequence past the maximum: 3`);
    expect(r.series.find((s) => s.counterKey === A)?.problems).toBe(1);
  });

  it('checks a closed epoch up to the value it was reset from, or up to its highest sequence without the audit entry', () => {
    const now: CounterRow[] = [{ counterKey: A, epoch: 3, current: 2, max: 99 }];
    const rows = [...series(A, 1, [1, 2, 4]), ...series(A, 2, [1, 2, 3]), ...series(A, 3, [1, 2])];
    expect(kinds(analyze(now, rows))).toEqual([`${A}#1 gap 3`]);
    const closed = [{ counterKey: A, epoch: 1, finalValue: 5 }, { counterKey: A, epoch: 2, finalValue: 3 }];
    const r = analyze(now, rows, { closed });
    expect(kinds(r)).toEqual([`${A}#1 gap 3,5`]);
    expect(r.series.map((s) => `${s.epoch}:${s.state}:${s.limit}`)).toEqual(['1:closed:5', '2:closed:3', '3:current:2']);
  });

  it('reports ledger rows of an unknown counter, of a future epoch, and with sequence 0', () => {
    const r = analyze([{ counterKey: A, epoch: 1, current: 1, max: 9 }], [...series(A, 1, [0, 1]), ...series(A, 2, [1]), ...series('GHOST', 1, [1, 2])]);
    expect(kinds(r)).toEqual(['GHOST#1 unknown-counter 1-2', `${A}#1 invalid-sequence 0`, `${A}#2 future-epoch 1`]);
  });

  it('reports a number text held by several rows, naming counters and sequences', () => {
    const numbers: NumberHolder[] = [
      { number: 'LCBP3-TRN-A-000003', counterKey: A, epoch: 1, sequence: 3 },
      { number: 'LCBP3-TRN-A-000003', counterKey: A, epoch: 1, sequence: 9 },
    ];
    const r = analyze(counters, [...series(A, 1, range(1, 10)), ...series(B, 1, range(1, 5))], { numbers });
    expect(kinds(r)).toEqual([`${A}#1 duplicate-number 3,9`]);
    expect(describeProblem(r.problems[0]!)).toBe(`${A} epoch 1: duplicate-number: LCBP3-TRN-A-000003 is held by 2 ledger rows, sequences 3, 9`);
    const lines = formatReport(r);
    expect(lines.at(-2)).toMatch(/^integrity FAILED: 1 problem in 1 counter \(1 duplicate-number\)/);
  });

  it('keeps at most MAX_ITEMS entries per problem but counts them all', () => {
    const every = range(1, 2 * MAX_ITEMS + 10);
    const odd = every.filter((n) => n % 2 === 1);
    const r = analyze([{ counterKey: A, epoch: 1, current: every.length, max: 1e6 }], series(A, 1, odd));
    const gap = r.problems[0]!;
    expect(gap.items).toHaveLength(MAX_ITEMS);
    expect(gap.count).toBe(every.length - odd.length);
    expect(describeProblem(gap)).toMatch(/… and 5 more$/);
  });

  it('refuses rows that are not in ledger order rather than misreporting', () => {
    const a = new IntegrityAnalyzer(counters);
    a.add({ counterKey: A, epoch: 1, sequence: 2 });
    expect(() => a.add({ counterKey: A, epoch: 1, sequence: 1 })).toThrow(/not ordered by sequence/);
    const b = new IntegrityAnalyzer(counters);
    b.add({ counterKey: A, epoch: 1, sequence: 1 });
    b.add({ counterKey: B, epoch: 1, sequence: 1 });
    expect(() => b.add({ counterKey: A, epoch: 1, sequence: 2 })).toThrow(/came back/);
  });

  it('prints one table row per series with utilization and status', () => {
    const r = analyze(counters, [...series(A, 1, range(1, 9)), ...series(B, 1, range(1, 5))]);
    const lines = formatReport(r);
    expect(lines[0]).toMatch(/^counter\s+epoch\s+current\s+max\s+used\s+ledger rows\s+status$/);
    expect(lines.find((l) => l.startsWith(A))).toMatch(/1\s+10\s+999999\s+0\.0%\s+9\s+1 problem$/);
    expect(lines.find((l) => l.startsWith(B))).toMatch(/5\s+9999\s+0\.1%\s+5\s+ok$/);
    expect(lines).toContain(`  - ${A} epoch 1: gap: 1 sequence missing from the ledger: 10`);
  });
});

/**
 * Sequence integrity of the ledger, as a pure analysis over rows (the command reads them from MariaDB
 * in one snapshot): for every counter and epoch the ledger must hold each sequence 1..N exactly once,
 * where N is the counter's current_value for its current epoch and the value it was reset from for an
 * earlier epoch (from the COUNTER_RESET audit entry; without one, only the run up to the highest
 * sequence can be checked). Ledger rows arrive ordered by counter, epoch and sequence, so one series is
 * held at a time and memory stays flat however long the ledger is.
 */

export interface CounterRow {
  counterKey: string;
  epoch: number;
  current: number;
  max: number;
}

export interface LedgerRow {
  counterKey: string;
  epoch: number;
  sequence: number;
}

/** An earlier epoch's last value, from the audit trail of a reset. */
export interface ClosedEpoch {
  counterKey: string;
  epoch: number;
  finalValue: number;
}

/** One ledger row carrying a number text that more than one row carries. */
export interface NumberHolder {
  number: string;
  counterKey: string;
  epoch: number;
  sequence: number;
}

export type ProblemKind = 'gap' | 'duplicate-sequence' | 'above-current' | 'over-max' | 'duplicate-number' | 'invalid-sequence' | 'unknown-counter' | 'future-epoch';

export interface SequenceItem {
  from: number;
  to: number;
  /** Ledger rows per sequence (duplicates). */
  rows?: number;
}

export interface Problem {
  counterKey: string;
  epoch?: number;
  kind: ProblemKind;
  /** The sequences concerned, as ranges (at most MAX_ITEMS; `count` has the total). */
  items: SequenceItem[];
  /** How many sequences are concerned in all. */
  count: number;
  /** What the problem is about beyond its sequences (the number text, the limit). */
  detail?: string;
}

export interface SeriesReport {
  counterKey: string;
  epoch: number;
  /** current: the counter's epoch; closed: an earlier one; orphan: no counter row, or an epoch ahead of it. */
  state: 'current' | 'closed' | 'orphan';
  /** current_value (current epoch) or the value it was reset from (closed epoch, when the audit trail has it). */
  limit?: number;
  max?: number;
  ledgerRows: number;
  highest: number;
  problems: number;
}

export interface IntegrityReport {
  series: SeriesReport[];
  problems: Problem[];
  counters: number;
  ledgerRows: number;
}

export const MAX_ITEMS = 100;

interface Series {
  report: SeriesReport;
  prev: number;
  gap: Problem;
  duplicate: Problem;
  above: Problem;
  invalid: Problem;
}

function addRange(p: Problem, from: number, to: number): void {
  p.count += to - from + 1;
  const last = p.items.at(-1);
  if (last && last.rows === undefined && last.to === from - 1) last.to = to;
  else if (p.items.length < MAX_ITEMS) p.items.push({ from, to });
}

const seriesKey = (counterKey: string, epoch: number) => `${counterKey}\u0000${epoch}`;

export class IntegrityAnalyzer {
  private readonly counters = new Map<string, CounterRow>();
  private readonly closed = new Map<string, number>();
  private readonly seen = new Set<string>();
  private readonly series: SeriesReport[] = [];
  private readonly problems: Problem[] = [];
  private open: Series | undefined;
  private ledgerRows = 0;

  constructor(counters: readonly CounterRow[], closedEpochs: readonly ClosedEpoch[] = []) {
    for (const c of counters) this.counters.set(c.counterKey, c);
    for (const e of closedEpochs) this.closed.set(seriesKey(e.counterKey, e.epoch), e.finalValue);
  }

  /** Ledger rows, ordered by counter, epoch, sequence (as `ORDER BY counter_key, epoch, sequence`). */
  add(row: LedgerRow): void {
    this.ledgerRows += 1;
    const key = seriesKey(row.counterKey, row.epoch);
    let s = this.open;
    if (!s || s.report.counterKey !== row.counterKey || s.report.epoch !== row.epoch) {
      if (this.seen.has(key)) throw new Error(`ledger rows are not ordered by counter and epoch: ${row.counterKey} epoch ${row.epoch} came back`);
      this.close();
      s = this.open = this.start(row.counterKey, row.epoch);
    }
    const seq = row.sequence;
    if (seq < s.prev) throw new Error(`ledger rows are not ordered by sequence: ${seq} after ${s.prev} in ${row.counterKey} epoch ${row.epoch}`);
    s.report.ledgerRows += 1;
    if (seq < 1) {
      addRange(s.invalid, seq, seq);
      return;
    }
    if (seq === s.prev) {
      const last = s.duplicate.items.at(-1);
      if (last?.from === seq) {
        last.rows! += 1;
      } else {
        s.duplicate.count += 1;
        if (s.duplicate.items.length < MAX_ITEMS) s.duplicate.items.push({ from: seq, to: seq, rows: 2 });
      }
      return;
    }
    const limit = s.report.limit;
    const gapTo = limit === undefined ? seq - 1 : Math.min(seq - 1, limit);
    if (s.prev + 1 <= gapTo) addRange(s.gap, s.prev + 1, gapTo);
    if (limit !== undefined && seq > limit) addRange(s.above, seq, seq);
    s.prev = seq;
    s.report.highest = seq;
  }

  /** Ledger rows sharing a number text (any order). */
  addDuplicateNumbers(holders: readonly NumberHolder[]): void {
    const byNumber = new Map<string, NumberHolder[]>();
    for (const h of holders) byNumber.set(h.number, [...(byNumber.get(h.number) ?? []), h]);
    for (const [number, rows] of byNumber) {
      if (rows.length < 2) continue;
      const keys = [...new Set(rows.map((r) => r.counterKey))];
      const epochs = [...new Set(rows.map((r) => r.epoch))];
      this.problems.push({
        counterKey: keys.join(', '),
        ...(keys.length === 1 && epochs.length === 1 ? { epoch: epochs[0]! } : {}),
        kind: 'duplicate-number',
        items: rows.slice(0, MAX_ITEMS).map((r) => ({ from: r.sequence, to: r.sequence })),
        count: rows.length,
        detail: number,
      });
    }
  }

  finish(): IntegrityReport {
    this.close();
    // Series the ledger has no row of at all.
    for (const c of this.counters.values()) {
      if (!this.seen.has(seriesKey(c.counterKey, c.epoch))) {
        this.open = this.start(c.counterKey, c.epoch);
        this.close();
      }
    }
    for (const [key, finalValue] of this.closed) {
      const [counterKey, epoch] = key.split('\u0000') as [string, string];
      if (!this.seen.has(key) && finalValue > 0 && this.counters.has(counterKey)) {
        this.open = this.start(counterKey, Number(epoch));
        this.close();
      }
    }
    for (const c of this.counters.values()) {
      if (c.current > c.max) {
        const p: Problem = { counterKey: c.counterKey, epoch: c.epoch, kind: 'over-max', items: [], count: 0, detail: `current_value ${c.current} > max_value ${c.max}` };
        addRange(p, c.max + 1, c.current);
        this.problems.push(p);
        const series = this.series.find((s) => s.counterKey === c.counterKey && s.epoch === c.epoch);
        if (series) series.problems += 1;
      }
    }
    const order = (a: { counterKey: string; epoch?: number }, b: { counterKey: string; epoch?: number }) =>
      a.counterKey < b.counterKey ? -1 : a.counterKey > b.counterKey ? 1 : (a.epoch ?? 0) - (b.epoch ?? 0);
    return { series: [...this.series].sort(order), problems: [...this.problems].sort(order), counters: this.counters.size, ledgerRows: this.ledgerRows };
  }

  private start(counterKey: string, epoch: number): Series {
    this.seen.add(seriesKey(counterKey, epoch));
    const counter = this.counters.get(counterKey);
    const finalValue = this.closed.get(seriesKey(counterKey, epoch));
    const state: SeriesReport['state'] = !counter || epoch > counter.epoch ? 'orphan' : epoch === counter.epoch ? 'current' : 'closed';
    const limit = state === 'current' ? counter!.current : state === 'closed' ? finalValue : undefined;
    const problem = (kind: ProblemKind, detail?: string): Problem => ({ counterKey, epoch, kind, items: [], count: 0, ...(detail ? { detail } : {}) });
    return {
      report: { counterKey, epoch, state, ...(limit !== undefined ? { limit } : {}), ...(state === 'current' ? { max: counter!.max } : {}), ledgerRows: 0, highest: 0, problems: 0 },
      prev: 0,
      gap: problem('gap'),
      duplicate: problem('duplicate-sequence'),
      above: problem('above-current', limit === undefined ? undefined : state === 'current' ? `current_value ${limit}` : `reset from ${limit}`),
      invalid: problem('invalid-sequence'),
    };
  }

  private close(): void {
    const s = this.open;
    if (!s) return;
    this.open = undefined;
    const r = s.report;
    if (r.limit !== undefined && s.prev < r.limit) addRange(s.gap, s.prev + 1, r.limit);
    const found = [s.gap, s.duplicate, s.above, s.invalid].filter((p) => p.count > 0);
    if (r.state === 'orphan' && r.ledgerRows > 0) {
      const counter = this.counters.get(r.counterKey);
      const orphan: Problem = counter
        ? { counterKey: r.counterKey, epoch: r.epoch, kind: 'future-epoch', items: [], count: 0, detail: `the counter is at epoch ${counter.epoch}` }
        : { counterKey: r.counterKey, epoch: r.epoch, kind: 'unknown-counter', items: [], count: 0, detail: 'no counters row' };
      addRange(orphan, 1, r.highest || 1);
      orphan.count = r.ledgerRows;
      found.unshift(orphan);
    }
    r.problems = found.length;
    this.problems.push(...found);
    this.series.push(r);
  }
}

/** `5, 7-9, 12 (2 rows)`, with `… and N more` past MAX_ITEMS. */
export function formatItems(p: Problem): string {
  const shown = p.items.map((i) => `${i.from === i.to ? i.from : `${i.from}-${i.to}`}${i.rows ? ` (${i.rows} rows)` : ''}`).join(', ');
  const listed = p.items.reduce((n, i) => n + (p.kind === 'duplicate-number' || i.rows ? 1 : i.to - i.from + 1), 0);
  return p.count > listed ? `${shown} … and ${p.count - listed} more` : shown;
}

export function describeProblem(p: Problem): string {
  const where = `${p.counterKey}${p.epoch !== undefined ? ` epoch ${p.epoch}` : ''}`;
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const seqs = formatItems(p);
  switch (p.kind) {
    case 'gap':
      return `${where}: gap: ${plural(p.count, 'sequence')} missing from the ledger: ${seqs}`;
    case 'duplicate-sequence':
      return `${where}: duplicate-sequence: ${plural(p.count, 'sequence')} in the ledger more than once: ${seqs}`;
    case 'above-current':
      return `${where}: above-current: ledger ${plural(p.count, 'sequence')} above ${p.detail}: ${seqs}`;
    case 'over-max':
      return `${where}: over-max: ${p.detail}, ${plural(p.count, 'sequence')} past the maximum: ${seqs}`;
    case 'duplicate-number':
      return `${where}: duplicate-number: ${p.detail} is held by ${p.count} ledger rows, sequences ${seqs}`;
    case 'invalid-sequence':
      return `${where}: invalid-sequence: ledger ${plural(p.count, 'row')} with sequence < 1: ${seqs}`;
    case 'unknown-counter':
    case 'future-epoch':
      return `${where}: ${p.kind}: ${plural(p.count, 'ledger row')} (${p.detail}), sequences ${seqs}`;
  }
}

export function formatReport(report: IntegrityReport): string[] {
  const rows = report.series.map((s) => ({
    counter: s.counterKey,
    epoch: String(s.epoch),
    current: s.state === 'current' ? String(s.limit) : s.state === 'closed' ? `${s.limit ?? '?'} (closed)` : '-',
    max: s.max !== undefined ? String(s.max) : '-',
    used: s.max ? `${((100 * (s.limit ?? 0)) / s.max).toFixed(1)}%` : '-',
    ledger: String(s.ledgerRows),
    status: s.problems === 0 ? 'ok' : `${s.problems} problem${s.problems > 1 ? 's' : ''}`,
  }));
  const head = { counter: 'counter', epoch: 'epoch', current: 'current', max: 'max', used: 'used', ledger: 'ledger rows', status: 'status' };
  const cols = Object.keys(head) as (keyof typeof head)[];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(head[c].length, ...rows.map((r) => r[c].length))])) as Record<keyof typeof head, number>;
  const line = (r: typeof head) => cols.map((c) => (c === 'counter' || c === 'status' ? r[c].padEnd(width[c]) : r[c].padStart(width[c]))).join('  ').trimEnd();
  const lines = [line(head), ...rows.map(line)];
  const kinds = new Map<string, number>();
  for (const p of report.problems) kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
  const counters = new Set(report.problems.map((p) => p.counterKey)).size;
  const scope = `${report.counters} counter${report.counters === 1 ? '' : 's'}, ${report.series.length} series, ${report.ledgerRows} ledger rows`;
  if (report.problems.length === 0) {
    lines.push(`integrity ok: ${scope}; every sequence 1..current_value exactly once, no duplicate number`);
  } else {
    lines.push(`integrity FAILED: ${report.problems.length} problem${report.problems.length > 1 ? 's' : ''} in ${counters} counter${counters > 1 ? 's' : ''} (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}); ${scope}`);
    for (const p of report.problems) lines.push(`  - ${describeProblem(p)}`);
  }
  return lines;
}

import { periodAt, type ResetScope } from './sequence-patterns.js';

/**
 * `ops sequences`: the utilization table. Pure: rows in, lines out. The maths is plain on purpose
 * (a linear extrapolation of the recent rate): it answers "weeks or years?", not "which hour".
 */

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export interface CounterUsage {
  counterKey: string;
  template: string;
  resetScope: ResetScope;
  period: string;
  epoch: number;
  currentValue: number;
  maxValue: number;
  /** Ledger rows of the current epoch created within the window: every one used a sequence value. */
  recentAllocations: number;
  createdAt: Date;
}

/** Share of the range used, 0..1, exactly as the service's `numbering_sequence_utilization` gauge. */
export const utilization = (current: number, max: number) => (max > 0 ? Math.min(1, current / max) : 1);

/**
 * Sequence values used per day. A counter younger than the window has only been observable since it
 * was created (a new period's counter would otherwise look 7 times slower on its first day); one hour
 * at least, so a brand-new counter does not extrapolate from seconds.
 */
export function allocationRatePerDay(recentAllocations: number, windowMs: number, counterAgeMs: number = windowMs): number {
  if (recentAllocations <= 0) return 0;
  const observedMs = Math.max(HOUR_MS, Math.min(windowMs, counterAgeMs));
  return (recentAllocations * DAY_MS) / observedMs;
}

/** Days until current reaches max at `ratePerDay`; 0 when exhausted, Infinity when nothing is being allocated. */
export function daysToExhaustion(current: number, max: number, ratePerDay: number): number {
  if (current >= max) return 0;
  if (!(ratePerDay > 0)) return Infinity;
  return (max - current) / ratePerDay;
}

export function formatDays(days: number): string {
  if (days === Infinity) return 'never';
  if (days <= 0) return 'exhausted';
  if (days < 1) return '<1';
  if (days > 36_500) return '>36500';
  return String(Math.floor(days));
}

export function formatRate(perDay: number): string {
  if (perDay === 0) return '0';
  return perDay >= 100 ? String(Math.round(perDay)) : perDay.toFixed(1);
}

export const formatPercent = (ratio: number) => `${(Math.floor(ratio * 1000) / 10).toFixed(1)} %`;

export interface Thresholds {
  /** monitoring.sequenceWarningRatio: the SequenceWarning alert fires above it. */
  warning: number;
  /** monitoring.sequenceCriticalRatio: SequenceCritical. */
  critical: number;
}

export type Level = 'critical' | 'warning' | 'ok';

/** Same comparison as the alert rules (`utilization > threshold`). */
export const levelOf = (ratio: number, t: Thresholds): Level => (ratio > t.critical ? 'critical' : ratio > t.warning ? 'warning' : 'ok');

/** A YEARLY or MONTHLY counter of an earlier period: the service allocates from it no more. */
export const isClosedPeriod = (c: Pick<CounterUsage, 'resetScope' | 'period'>, now: Date) => c.resetScope !== 'NONE' && c.period !== periodAt(c.resetScope, now);

export interface ReportRow {
  usage: CounterUsage;
  utilization: number;
  ratePerDay: number;
  daysLeft: number;
  level: Level;
  closed: boolean;
}

export function reportRows(usages: readonly CounterUsage[], opts: { windowMs: number; now: Date; thresholds: Thresholds }): ReportRow[] {
  return usages
    .map((usage) => {
      const ratio = utilization(usage.currentValue, usage.maxValue);
      const ratePerDay = allocationRatePerDay(usage.recentAllocations, opts.windowMs, opts.now.getTime() - usage.createdAt.getTime());
      return {
        usage,
        utilization: ratio,
        ratePerDay,
        daysLeft: daysToExhaustion(usage.currentValue, usage.maxValue, ratePerDay),
        level: levelOf(ratio, opts.thresholds),
        closed: isClosedPeriod(usage, opts.now),
      };
    })
    .sort((a, b) => b.utilization - a.utilization || a.usage.counterKey.localeCompare(b.usage.counterKey));
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** Plain-text table: headers, then one line per row; columns padded to their widest cell, two spaces apart. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => (c.align === 'right' ? (cells[i] ?? '').padStart(widths[i]!) : (cells[i] ?? '').padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}

const MARK: Record<Level, string> = { critical: '!!', warning: '! ', ok: '  ' };

/** The table `ops sequences` prints: highest utilization first, rows above a threshold marked `!`/`!!` and labelled. */
export function formatReport(rows: readonly ReportRow[], thresholds: Thresholds): string[] {
  const columns: Column[] = [
    { header: '  counter' },
    { header: 'template' },
    { header: 'current', align: 'right' },
    { header: 'max', align: 'right' },
    { header: 'used', align: 'right' },
    { header: 'per day', align: 'right' },
    { header: 'days left', align: 'right' },
    { header: 'status' },
  ];
  const cells = rows.map((r) => [
    `${MARK[r.level]}${r.usage.counterKey}`,
    r.usage.template,
    String(r.usage.currentValue),
    String(r.usage.maxValue),
    formatPercent(r.utilization),
    formatRate(r.ratePerDay),
    // A closed period gets no more numbers: its range does not run out any more.
    r.closed && r.daysLeft !== 0 ? '-' : formatDays(r.daysLeft),
    [r.level === 'critical' ? `CRITICAL >${formatThreshold(thresholds.critical)}` : r.level === 'warning' ? `WARNING >${formatThreshold(thresholds.warning)}` : '', r.closed ? 'closed period' : '']
      .filter(Boolean)
      .join(', '),
  ]);
  return formatTable(columns, cells);
}

const formatThreshold = (ratio: number) => `${Math.round(ratio * 1000) / 10}%`;

/** The closing line: how many counters are above the warning threshold, naming them. */
export function summaryLine(rows: readonly ReportRow[], thresholds: Thresholds): string {
  const hot = rows.filter((r) => r.level !== 'ok');
  if (hot.length === 0) return `${rows.length} counter${rows.length === 1 ? '' : 's'}, none above the warning threshold (${formatThreshold(thresholds.warning)})`;
  const critical = hot.filter((r) => r.level === 'critical').length;
  return `${hot.length} of ${rows.length} counters above the warning threshold (${formatThreshold(thresholds.warning)}), ${critical} above critical (${formatThreshold(thresholds.critical)}): ${hot.map((r) => r.usage.counterKey).join(', ')}`;
}

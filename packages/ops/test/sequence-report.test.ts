import { describe, expect, it } from 'vitest';
import { allocationRatePerDay, DAY_MS, daysToExhaustion, formatDays, formatPercent, formatRate, formatReport, formatTable, levelOf, reportRows, summaryLine, utilization, type CounterUsage } from '../src/sequence-report.js';

const thresholds = { warning: 0.9, critical: 0.95 };
const now = new Date('2026-06-15T12:00:00Z');
const week = 7 * DAY_MS;
const usage = (over: Partial<CounterUsage>): CounterUsage => ({
  counterKey: 'T|2026|PROJECT=P',
  template: 'T',
  resetScope: 'YEARLY',
  period: '2026',
  epoch: 1,
  currentValue: 0,
  maxValue: 9999,
  recentAllocations: 0,
  createdAt: new Date('2026-01-01T00:00:00Z'),
  ...over,
});

describe('days-to-exhaustion maths', () => {
  it('divides the recent allocations by the window', () => {
    expect(allocationRatePerDay(70, week)).toBe(10);
    expect(allocationRatePerDay(0, week)).toBe(0);
  });

  it('uses the counter age when the counter is younger than the window, but at least an hour', () => {
    expect(allocationRatePerDay(20, week, 2 * DAY_MS)).toBe(10);
    expect(allocationRatePerDay(5, week, 1000)).toBe(5 * 24);
  });

  it('estimates the days left at that rate', () => {
    expect(daysToExhaustion(9000, 9999, 10)).toBeCloseTo(99.9);
    expect(daysToExhaustion(9999, 9999, 10)).toBe(0);
    expect(daysToExhaustion(10, 9999, 0)).toBe(Infinity);
    expect([Infinity, 0, 0.4, 99.9, 1e6].map(formatDays)).toEqual(['never', 'exhausted', '<1', '99', '>36500']);
  });

  it('reports utilization as the service gauge does, never rounding up to 100 %', () => {
    expect(utilization(5, 10)).toBe(0.5);
    expect(utilization(12, 10)).toBe(1);
    expect(utilization(1, 0)).toBe(1);
    expect(formatPercent(0.99995)).toBe('99.9 %');
    expect(formatPercent(1)).toBe('100.0 %');
    expect([0, 0.25, 12.345, 1234.5].map(formatRate)).toEqual(['0', '0.3', '12.3', '1235']);
  });

  it('classifies like the alert rules (strictly above the threshold)', () => {
    expect(levelOf(0.9, thresholds)).toBe('ok');
    expect(levelOf(0.9001, thresholds)).toBe('warning');
    expect(levelOf(0.95, thresholds)).toBe('warning');
    expect(levelOf(0.96, thresholds)).toBe('critical');
  });
});

describe('the utilization table', () => {
  it('aligns columns to the widest cell', () => {
    expect(formatTable([{ header: 'name' }, { header: 'n', align: 'right' }], [['a', '1'], ['longer', '100']])).toEqual(['name      n', 'a         1', 'longer  100']);
  });

  it('sorts by utilization, marks and labels rows above the thresholds, and shows "-" for closed periods', () => {
    const rows = reportRows(
      [
        usage({ counterKey: 'T|2026|PROJECT=LOW', currentValue: 100, recentAllocations: 70 }),
        usage({ counterKey: 'T|2026|PROJECT=HOT', currentValue: 9700, recentAllocations: 700 }),
        usage({ counterKey: 'T|2026|PROJECT=WARM', currentValue: 9100 }),
        usage({ counterKey: 'T|2025|PROJECT=OLD', period: '2025', currentValue: 9400, createdAt: new Date('2025-01-01T00:00:00Z') }),
      ],
      { windowMs: week, now, thresholds },
    );
    expect(rows.map((r) => r.usage.counterKey)).toEqual(['T|2026|PROJECT=HOT', 'T|2025|PROJECT=OLD', 'T|2026|PROJECT=WARM', 'T|2026|PROJECT=LOW']);
    const lines = formatReport(rows, thresholds);
    expect(lines[0]).toMatch(/^ {2}counter\s+template\s+current\s+max\s+used\s+per day\s+days left\s+status$/);
    expect(lines[1]).toMatch(/^!!T\|2026\|PROJECT=HOT\s+T\s+9700\s+9999\s+97\.0 %\s+100\s+2\s+CRITICAL >95%$/);
    expect(lines[2]).toMatch(/^! T\|2025\|PROJECT=OLD .* 94\.0 %\s+0\s+-\s+WARNING >90%, closed period$/);
    expect(lines[3]).toMatch(/^! T\|2026\|PROJECT=WARM .* 91\.0 %\s+0\s+never\s+WARNING >90%$/);
    expect(lines[4]).toMatch(/^ {2}T\|2026\|PROJECT=LOW .* 1\.0 %\s+10\.0\s+989$/);
    // Every line has the same column start for "template".
    const at = lines[0]!.indexOf('template');
    expect(lines.every((l) => l[at - 1] === ' ' && l[at - 2] === ' ')).toBe(true);
    expect(summaryLine(rows, thresholds)).toBe('3 of 4 counters above the warning threshold (90%), 1 above critical (95%): T|2026|PROJECT=HOT, T|2025|PROJECT=OLD, T|2026|PROJECT=WARM');
    expect(summaryLine(rows.slice(3), thresholds)).toBe('1 counter, none above the warning threshold (90%)');
  });
});

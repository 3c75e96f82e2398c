import { describe, expect, it } from 'vitest';
import { planBatch, planCandidates, utilization } from '../src/domain/allocation.js';

const fmt = (_e: string, seq: number) => `DOC-${String(seq).padStart(4, '0')}`;

describe('planBatch', () => {
  it('assigns consecutive sequences after the current value, in request order', () => {
    const plan = planBatch({ current: 41, max: 9999, entries: ['a', 'b', 'c'], format: fmt });
    expect(plan.assigned.map((a) => [a.entry, a.sequence, a.number])).toEqual([
      ['a', 42, 'DOC-0042'],
      ['b', 43, 'DOC-0043'],
      ['c', 44, 'DOC-0044'],
    ]);
    expect(plan.next).toBe(44);
    expect(plan.skipped).toEqual([]);
  });

  it('fails only the requests beyond max_value', () => {
    const plan = planBatch({ current: 8, max: 10, entries: ['a', 'b', 'c', 'd'], format: fmt });
    expect(plan.assigned.map((a) => a.sequence)).toEqual([9, 10]);
    expect(plan.exhausted).toEqual(['c', 'd']);
    expect(plan.next).toBe(10);
  });

  it('skips (and records) sequences whose number was already issued, so no value goes unaccounted', () => {
    const taken = new Set(['DOC-0002', 'DOC-0003', 'DOC-0005']);
    const plan = planBatch({ current: 0, max: 100, entries: ['a', 'b', 'c'], format: fmt, taken });
    expect(plan.assigned.map((a) => a.sequence)).toEqual([1, 4, 6]);
    expect(plan.skipped.map((s) => s.sequence)).toEqual([2, 3, 5]);
    const accounted = [...plan.assigned.map((a) => a.sequence), ...plan.skipped.map((s) => s.sequence)].sort((x, y) => x - y);
    expect(accounted).toEqual([1, 2, 3, 4, 5, 6]);
    expect(plan.next).toBe(6);
    expect(planCandidates(plan)).toHaveLength(6);
  });

  it('formats each entry with its own fields', () => {
    const plan = planBatch({ current: 0, max: 10, entries: ['A', 'B'], format: (rev, seq) => `DOC-${seq}-${rev}` });
    expect(plan.assigned.map((a) => a.number)).toEqual(['DOC-1-A', 'DOC-2-B']);
  });

  it('does nothing for an empty batch and rejects a broken counter', () => {
    expect(planBatch({ current: 5, max: 10, entries: [], format: fmt }).next).toBe(5);
    expect(() => planBatch({ current: -1, max: 10, entries: ['a'], format: fmt })).toThrow(/non-negative/);
  });

  it('computes utilization in 0..1', () => {
    expect(utilization(0, 100)).toBe(0);
    expect(utilization(95, 100)).toBe(0.95);
    expect(utilization(100, 100)).toBe(1);
  });
});

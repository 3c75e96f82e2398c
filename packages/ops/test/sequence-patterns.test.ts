import { describe, expect, it } from 'vitest';
import { deriveCounterKey, resetPeriod } from '../../../services/numbering/src/domain/counter-key.js';
import { parseTemplate, widthLimit as serviceWidthLimit } from '../../../services/numbering/src/domain/template.js';
import { defaultResetYear, formatCounterKey, parseCounterKey, periodAt, planYearlyCounters, scopeTokens, seqWidth, widthLimit } from '../src/sequence-patterns.js';

// The default templates of migration 002 and a few shapes more.
const patterns = [
  '{PROJECT}-{ORIGINATOR}-{RECIPIENT}-{CORR_TYPE}-{YYYY}-{SEQ:4}',
  '{PROJECT}-RFA-{DISCIPLINE}-{RFA_TYPE}-{YEAR:B.E.}-{SEQ:4}',
  '{PROJECT}-TRN-{ORIGINATOR}-{SEQ:6}',
  '{PROJECT}-CIR-{YY}{MM}-{SEQ:4}',
  '{DISCIPLINE}/{SUB_TYPE}/{PROJECT}-{REV}-{YYYY}-{SEQ:7}',
  'INVOICE-{YYYY}-{SEQ:5}',
];

describe('template facts restated from the numbering service', () => {
  it('agree with the service on sequence width and scope tokens', () => {
    for (const pattern of patterns) {
      const parsed = parseTemplate(pattern);
      expect(seqWidth(pattern), pattern).toBe(parsed.seqWidth);
      expect(widthLimit(parsed.seqWidth)).toBe(serviceWidthLimit(parsed.seqWidth));
      expect(scopeTokens(pattern), pattern).toEqual(parsed.scopeFields);
    }
  });

  it('build the counter key the service derives for another year', () => {
    const parsed = parseTemplate(patterns[0]!);
    const fields = { PROJECT: 'LCBP3', ORIGINATOR: 'A=B', RECIPIENT: 'XYZ', CORR_TYPE: 'LET' };
    const k2025 = deriveCounterKey('CORRESPONDENCE', 'YEARLY', parsed, fields, { year: 2025, month: 12 });
    const k2026 = deriveCounterKey('CORRESPONDENCE', 'YEARLY', parsed, fields, { year: 2026, month: 1 });
    const parts = parseCounterKey(k2025)!;
    expect(parts.scope).toContainEqual(['ORIGINATOR', 'A=B']);
    expect(formatCounterKey({ ...parts, period: '2026' })).toBe(k2026);
    expect(periodAt('YEARLY', new Date('2026-07-01T00:00:00Z'))).toBe(resetPeriod('YEARLY', { year: 2026, month: 7 }));
    expect(periodAt('MONTHLY', new Date('2026-03-31T23:59:59Z'))).toBe(resetPeriod('MONTHLY', { year: 2026, month: 3 }));
    expect(periodAt('NONE', new Date())).toBe('-');
  });

  it('picks the year to prepare: the current one, in December the next', () => {
    expect(defaultResetYear(new Date('2026-01-01T00:05:00Z'))).toBe(2026);
    expect(defaultResetYear(new Date('2026-11-30T23:59:59Z'))).toBe(2026);
    expect(defaultResetYear(new Date('2026-12-01T00:00:00Z'))).toBe(2027);
  });
});

describe('planYearlyCounters', () => {
  const template = { name: 'CORR', pattern: '{PROJECT}-{ORIGINATOR}-{YYYY}-{SEQ:4}' };

  it('creates one counter per previous-year scope that is missing, keeps the present ones', () => {
    const plan = planYearlyCounters(template, 2026, ['CORR|2025|PROJECT=P|ORIGINATOR=B', 'CORR|2025|PROJECT=P|ORIGINATOR=A'], new Set(['CORR|2026|PROJECT=P|ORIGINATOR=B']));
    expect(plan.create).toEqual([{ counterKey: 'CORR|2026|PROJECT=P|ORIGINATOR=A', from: 'CORR|2025|PROJECT=P|ORIGINATOR=A' }]);
    expect(plan.present).toEqual(['CORR|2026|PROJECT=P|ORIGINATOR=B']);
    expect(plan.unmatched).toEqual([]);
  });

  it('does not carry over a scope the pattern no longer has, nor a foreign key', () => {
    const plan = planYearlyCounters(template, 2026, ['CORR|2025|PROJECT=P', 'OTHER|2025|PROJECT=P|ORIGINATOR=A', 'CORR|2024|PROJECT=P|ORIGINATOR=A'], new Set());
    expect(plan.create).toEqual([]);
    // Sorted by key: CORR|2024..., CORR|2025..., OTHER|2025...
    expect(plan.unmatched.map((u) => u.why)).toEqual(['not a 2025 counter key of template CORR', 'scoped by PROJECT, the pattern now by PROJECT,ORIGINATOR', 'not a 2025 counter key of template CORR']);
  });

  it('is empty the second time (idempotent plan)', () => {
    const previous = ['CORR|2025|PROJECT=P|ORIGINATOR=A'];
    const first = planYearlyCounters(template, 2026, previous, new Set());
    const second = planYearlyCounters(template, 2026, previous, new Set(first.create.map((c) => c.counterKey)));
    expect(second.create).toEqual([]);
    expect(second.present).toHaveLength(1);
  });
});

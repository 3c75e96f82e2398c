import { describe, expect, it } from 'vitest';
import { deriveCounterKey, pickTemplateFields, resetPeriod } from '../src/domain/counter-key.js';
import { parseTemplate } from '../src/domain/template.js';

const t = parseTemplate('{PROJECT}-{ORIGINATOR}-{CORR_TYPE}-{REV}-{YYYY}-{SEQ:4}');
const fields = { PROJECT: 'LCBP3', ORIGINATOR: 'ABC', CORR_TYPE: 'LET', REV: 'A' };

describe('counter keys', () => {
  it('are template + reset period + scope fields (REV excluded)', () => {
    expect(deriveCounterKey('CORR', 'YEARLY', t, fields, { year: 2025, month: 3 })).toBe('CORR|2025|PROJECT=LCBP3|ORIGINATOR=ABC|CORR_TYPE=LET');
  });

  it('change with the period of the reset scope only', () => {
    const march = { year: 2025, month: 3 };
    const april = { year: 2025, month: 4 };
    expect(deriveCounterKey('C', 'YEARLY', t, fields, march)).toBe(deriveCounterKey('C', 'YEARLY', t, fields, april));
    expect(deriveCounterKey('C', 'MONTHLY', t, fields, march)).not.toBe(deriveCounterKey('C', 'MONTHLY', t, fields, april));
    expect(deriveCounterKey('C', 'NONE', t, fields, march)).toBe(deriveCounterKey('C', 'NONE', t, fields, { year: 2031, month: 1 }));
    expect([resetPeriod('YEARLY', march), resetPeriod('MONTHLY', march), resetPeriod('NONE', march)]).toEqual(['2025', '2025-03', '-']);
  });

  it('ignore fields the template does not print and revisions', () => {
    const a = deriveCounterKey('C', 'YEARLY', t, { ...fields, REV: 'B', DISCIPLINE: 'CIV' }, { year: 2025, month: 1 });
    expect(a).toBe(deriveCounterKey('C', 'YEARLY', t, fields, { year: 2025, month: 1 }));
    expect(pickTemplateFields(t, { ...fields, DISCIPLINE: 'CIV' })).toEqual(fields);
  });

  it('differ for different scope values', () => {
    expect(deriveCounterKey('C', 'YEARLY', t, { ...fields, ORIGINATOR: 'XYZ' }, { year: 2025, month: 1 })).not.toBe(deriveCounterKey('C', 'YEARLY', t, fields, { year: 2025, month: 1 }));
  });

  it('are bounded in length', () => {
    const wide = parseTemplate('{PROJECT}{ORIGINATOR}{RECIPIENT}{CORR_TYPE}{SUB_TYPE}{RFA_TYPE}{DISCIPLINE}{SEQ:1}');
    const long = Object.fromEntries(wide.fields.map((f) => [f, 'X'.repeat(32)]));
    expect(() => deriveCounterKey('T', 'NONE', wide, long, { year: 2025, month: 1 })).toThrow(/longer than 255/);
  });
});

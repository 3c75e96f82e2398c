import { describe, expect, it } from 'vitest';
import { calendarDate, fieldProblems, formatNumber, isPrintable, parseTemplate, TemplateError, validateTemplate } from '../src/domain/template.js';

const date = { year: 2025, month: 3 };

describe('parseTemplate', () => {
  it('splits literals and tokens, and finds the scope fields in canonical order', () => {
    const t = parseTemplate('{CORR_TYPE}/{PROJECT}-{REV}-{YYYY}-{SEQ:4}');
    expect(t.parts.map((p) => p.kind)).toEqual(['field', 'literal', 'field', 'literal', 'field', 'literal', 'date', 'literal', 'seq']);
    expect(t.fields).toEqual(['CORR_TYPE', 'PROJECT', 'REV']);
    // REV is printed but does not scope the counter; order follows SCOPE_TOKENS, not the pattern.
    expect(t.scopeFields).toEqual(['PROJECT', 'CORR_TYPE']);
    expect(t.seqWidth).toBe(4);
    expect(t.hasYear).toBe(true);
    expect(t.hasMonth).toBe(false);
  });

  it('accepts every documented token', () => {
    const t = parseTemplate('{PROJECT}{ORIGINATOR}{RECIPIENT}{CORR_TYPE}{SUB_TYPE}{RFA_TYPE}{DISCIPLINE}{REV}{YYYY}{YY}{MM}{YEAR:B.E.}{YEAR:A.D.}{SEQ:3}');
    expect(t.parts).toHaveLength(14);
  });

  it.each([
    ['ABC-{FOO}-{SEQ:4}', /unknown token \{FOO\} at position 4/],
    ['ABC-{SEQ:4}-{SEQ:2}', /exactly once, found 2/],
    ['ABC-{YYYY}', /exactly once, found 0/],
    ['ABC-{SEQ}', /needs a width/],
    ['ABC-{SEQ:0}', /width must be 1\.\.12/],
    ['ABC-{SEQ:13}', /width must be 1\.\.12/],
    ['ABC-{SEQ:4', /unclosed "\{" at position 4/],
    ['ABC-{PRO{SEQ:4}', /unclosed "\{"/],
    ['ABC}-{SEQ:4}', /unmatched "\}" at position 3/],
    ['ABC\t{SEQ:4}', /non-printable/],
    ['ABC\u0000{SEQ:4}', /non-printable/],
    ['', /non-empty/],
    [`${'A'.repeat(201)}{SEQ:4}`, /longer than 200/],
    ['{project}-{SEQ:4}', /unknown token \{project\}/],
  ])('rejects %j', (pattern, message) => {
    expect(() => parseTemplate(pattern)).toThrow(TemplateError);
    expect(() => parseTemplate(pattern)).toThrow(message);
  });
});

describe('validateTemplate', () => {
  it('requires the year in a YEARLY series and year + month in a MONTHLY one', () => {
    expect(() => validateTemplate({ pattern: 'DOC-{PROJECT}-{SEQ:4}', resetScope: 'YEARLY', maxValue: 9999 })).toThrow(/YEARLY template must print the year/);
    expect(() => validateTemplate({ pattern: 'DOC-{PROJECT}-{YYYY}-{SEQ:4}', resetScope: 'MONTHLY', maxValue: 9999 })).toThrow(/MONTHLY template must print the year and \{MM\}/);
    expect(validateTemplate({ pattern: 'DOC-{PROJECT}-{YY}{MM}-{SEQ:4}', resetScope: 'MONTHLY', maxValue: 9999 }).hasMonth).toBe(true);
    expect(validateTemplate({ pattern: 'DOC-{PROJECT}-{SEQ:4}', resetScope: 'NONE', maxValue: 9999 }).seqWidth).toBe(4);
  });

  it('keeps max_value within the printed width', () => {
    expect(() => validateTemplate({ pattern: 'DOC-{PROJECT}-{SEQ:3}', resetScope: 'NONE', maxValue: 1000 })).toThrow(/does not fit \{SEQ:3\} \(at most 999\)/);
    expect(() => validateTemplate({ pattern: 'DOC-{PROJECT}-{SEQ:3}', resetScope: 'NONE', maxValue: 0 })).toThrow(/positive integer/);
  });

  it('rejects a pattern whose fixed parts alone exceed 50 characters', () => {
    expect(() => validateTemplate({ pattern: `${'X'.repeat(40)}-{YYYY}-{SEQ:6}`, resetScope: 'YEARLY', maxValue: 9 })).toThrow(/at least 52 characters/);
  });
});

describe('formatNumber', () => {
  const t = parseTemplate('{PROJECT}-{ORIGINATOR}-{CORR_TYPE}-{YEAR:B.E.}-{SEQ:4}');

  it('prints fields, the Buddhist-era year and the zero-padded sequence', () => {
    expect(formatNumber(t, { PROJECT: 'LCBP3', ORIGINATOR: 'ABC', CORR_TYPE: 'LET' }, date, 7)).toBe('LCBP3-ABC-LET-2568-0007');
  });

  it('prints YY, MM and A.D. years', () => {
    const m = parseTemplate('CIR-{YY}{MM}-{YEAR:A.D.}-{SEQ:3}');
    expect(formatNumber(m, {}, { year: 2007, month: 9 }, 42)).toBe('CIR-0709-2007-042');
  });

  it('accepts Thai and other printable UTF-8 in fields', () => {
    expect(formatNumber(t, { PROJECT: 'โครงการ', ORIGINATOR: 'กทม', CORR_TYPE: 'จดหมาย' }, date, 1)).toBe('โครงการ-กทม-จดหมาย-2568-0001');
  });

  it('enforces the 10..50 character result', () => {
    const short = parseTemplate('{PROJECT}{SEQ:2}');
    expect(() => formatNumber(short, { PROJECT: 'AB' }, date, 1)).toThrow(/would be 4 characters/);
    expect(() => formatNumber(t, { PROJECT: 'P'.repeat(32), ORIGINATOR: 'O'.repeat(10), CORR_TYPE: 'LET' }, date, 1)).toThrow(/numbers must be 10\.\.50 characters/);
  });

  it('names missing and malformed fields', () => {
    expect(fieldProblems(t, { PROJECT: 'LCBP3' })).toEqual(['fields.ORIGINATOR is required by this template', 'fields.CORR_TYPE is required by this template']);
    expect(fieldProblems(t, { PROJECT: 'A B', ORIGINATOR: 'X|Y', CORR_TYPE: '{SEQ:1}' })).toHaveLength(3);
    expect(() => formatNumber(t, { PROJECT: 'LCBP3' }, date, 1)).toThrow(/fields\.ORIGINATOR is required/);
  });

  it('only prints positive integer sequences', () => {
    expect(() => formatNumber(t, { PROJECT: 'LCBP3', ORIGINATOR: 'ABC', CORR_TYPE: 'LET' }, date, 0)).toThrow(/positive integer/);
  });
});

describe('calendarDate and isPrintable', () => {
  it('takes year and month in the configured time zone', () => {
    const newYearInBangkok = new Date('2024-12-31T18:30:00Z');
    expect(calendarDate(newYearInBangkok, 'UTC')).toEqual({ year: 2024, month: 12 });
    expect(calendarDate(newYearInBangkok, 'Asia/Bangkok')).toEqual({ year: 2025, month: 1 });
  });

  it('allows plain spaces but no control or format characters', () => {
    expect(isPrintable('A B-ก')).toBe(true);
    expect(isPrintable('A\nB')).toBe(false);
    expect(isPrintable('A\u200bB')).toBe(false);
  });
});

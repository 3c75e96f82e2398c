/**
 * Number templates: parsing, validation and formatting. A template is a pattern such as
 * `{PROJECT}-{ORIGINATOR}-{CORR_TYPE}-{YYYY}-{SEQ:4}`: literal text plus tokens. Pure functions only.
 */

/** Tokens whose value comes from the request; all but REV also scope the counter. */
export const FIELD_TOKENS = ['PROJECT', 'ORIGINATOR', 'RECIPIENT', 'CORR_TYPE', 'SUB_TYPE', 'RFA_TYPE', 'DISCIPLINE', 'REV'] as const;
export type FieldToken = (typeof FIELD_TOKENS)[number];
/**
 * A revision of a document keeps counting in the same series as the document itself, so REV is
 * printed but does not start a counter of its own.
 */
export const SCOPE_TOKENS: readonly FieldToken[] = FIELD_TOKENS.filter((t) => t !== 'REV');

export const DATE_TOKENS = ['YYYY', 'YY', 'MM', 'YEAR:B.E.', 'YEAR:A.D.'] as const;
export type DateToken = (typeof DATE_TOKENS)[number];

export const RESET_SCOPES = ['YEARLY', 'MONTHLY', 'NONE'] as const;
export type ResetScope = (typeof RESET_SCOPES)[number];

export const NUMBER_MIN_LENGTH = 10;
export const NUMBER_MAX_LENGTH = 50;
export const PATTERN_MAX_LENGTH = 200;
export const SEQ_MAX_WIDTH = 12;

export type Part =
  | { kind: 'literal'; text: string }
  | { kind: 'field'; token: FieldToken }
  | { kind: 'date'; token: DateToken }
  | { kind: 'seq'; width: number };

export interface ParsedTemplate {
  pattern: string;
  parts: Part[];
  seqWidth: number;
  /** Field tokens used, in first-appearance order. */
  fields: FieldToken[];
  /** Field tokens that scope the counter, in canonical (SCOPE_TOKENS) order. */
  scopeFields: FieldToken[];
  hasYear: boolean;
  hasMonth: boolean;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

const ALL_TOKENS = [...FIELD_TOKENS, ...DATE_TOKENS, 'SEQ:n'].map((t) => `{${t}}`).join(' ');

/** Printable: no control, format, surrogate, private-use or unassigned code points and no whitespace but the plain space. */
export function isPrintable(text: string): boolean {
  return !/[\p{C}]|[^\S ]/u.test(text);
}

export const codePointLength = (text: string) => [...text].length;

export function parseTemplate(pattern: string): ParsedTemplate {
  if (typeof pattern !== 'string' || pattern.length === 0) throw new TemplateError('pattern must be a non-empty string');
  if (codePointLength(pattern) > PATTERN_MAX_LENGTH) throw new TemplateError(`pattern is longer than ${PATTERN_MAX_LENGTH} characters`);
  if (!isPrintable(pattern)) throw new TemplateError('pattern contains non-printable characters (control characters, tabs or newlines)');
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    if (ch === '}') throw new TemplateError(`unmatched "}" at position ${i}`);
    if (ch !== '{') {
      literal += ch;
      i++;
      continue;
    }
    const end = pattern.indexOf('}', i);
    const nextOpen = pattern.indexOf('{', i + 1);
    if (end < 0 || (nextOpen >= 0 && nextOpen < end)) throw new TemplateError(`unclosed "{" at position ${i}`);
    const name = pattern.slice(i + 1, end);
    if (literal) parts.push({ kind: 'literal', text: literal });
    literal = '';
    parts.push(parseToken(name, i));
    i = end + 1;
  }
  if (literal) parts.push({ kind: 'literal', text: literal });

  const seqs = parts.filter((p): p is Extract<Part, { kind: 'seq' }> => p.kind === 'seq');
  if (seqs.length !== 1) throw new TemplateError(`pattern must contain {SEQ:n} exactly once, found ${seqs.length}`);
  const fields = [...new Set(parts.flatMap((p) => (p.kind === 'field' ? [p.token] : [])))];
  const dates = new Set(parts.flatMap((p) => (p.kind === 'date' ? [p.token] : [])));
  return {
    pattern,
    parts,
    seqWidth: seqs[0]!.width,
    fields,
    scopeFields: SCOPE_TOKENS.filter((t) => fields.includes(t)),
    hasYear: ['YYYY', 'YY', 'YEAR:B.E.', 'YEAR:A.D.'].some((t) => dates.has(t as DateToken)),
    hasMonth: dates.has('MM'),
  };
}

function parseToken(name: string, position: number): Part {
  if ((FIELD_TOKENS as readonly string[]).includes(name)) return { kind: 'field', token: name as FieldToken };
  if ((DATE_TOKENS as readonly string[]).includes(name)) return { kind: 'date', token: name as DateToken };
  const seq = /^SEQ:(\d+)$/.exec(name);
  if (seq) {
    const width = Number(seq[1]);
    if (width < 1 || width > SEQ_MAX_WIDTH) throw new TemplateError(`{SEQ:${seq[1]}} at position ${position}: width must be 1..${SEQ_MAX_WIDTH}`);
    return { kind: 'seq', width };
  }
  if (name === 'SEQ') throw new TemplateError(`{SEQ} at position ${position} needs a width, e.g. {SEQ:4}`);
  throw new TemplateError(`unknown token {${name}} at position ${position}; known tokens: ${ALL_TOKENS}`);
}

/** Largest sequence value a template can print in its fixed width. */
export const widthLimit = (seqWidth: number) => 10 ** seqWidth - 1;

export interface TemplateDefinition {
  pattern: string;
  resetScope: ResetScope;
  maxValue: number;
}

/**
 * Checks a template as an admin submits it: the pattern parses, the reset scope is printed (a yearly
 * series without a year in the number would print the same number every year), max_value fits the
 * sequence width, and the fixed parts leave room for a number of at most 50 characters.
 */
export function validateTemplate(def: TemplateDefinition): ParsedTemplate {
  const parsed = parseTemplate(def.pattern);
  if (def.resetScope === 'YEARLY' && !parsed.hasYear) throw new TemplateError('a YEARLY template must print the year ({YYYY}, {YY}, {YEAR:B.E.} or {YEAR:A.D.}), otherwise numbers repeat each year');
  if (def.resetScope === 'MONTHLY' && !(parsed.hasYear && parsed.hasMonth)) throw new TemplateError('a MONTHLY template must print the year and {MM}, otherwise numbers repeat');
  if (!Number.isSafeInteger(def.maxValue) || def.maxValue < 1) throw new TemplateError('max_value must be a positive integer');
  if (def.maxValue > widthLimit(parsed.seqWidth)) throw new TemplateError(`max_value ${def.maxValue} does not fit {SEQ:${parsed.seqWidth}} (at most ${widthLimit(parsed.seqWidth)})`);
  const fixed = parsed.parts.reduce((n, p) => n + fixedLength(p), 0);
  const minimum = fixed + parsed.parts.filter((p) => p.kind === 'field').length;
  if (minimum > NUMBER_MAX_LENGTH) throw new TemplateError(`pattern prints at least ${minimum} characters, more than the ${NUMBER_MAX_LENGTH} allowed`);
  return parsed;
}

function fixedLength(p: Part): number {
  switch (p.kind) {
    case 'literal':
      return codePointLength(p.text);
    case 'seq':
      return p.width;
    case 'date':
      return p.token === 'YY' || p.token === 'MM' ? 2 : 4;
    case 'field':
      return 0;
  }
}

/** Calendar parts of an instant in a time zone: what the date tokens and the reset period use. */
export interface CalendarDate {
  year: number;
  month: number;
}

// Building an Intl.DateTimeFormat costs far more than using one: keep one per time zone.
const formatters = new Map<string, Intl.DateTimeFormat>();

export function calendarDate(at: Date, timeZone: string): CalendarDate {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric' });
    formatters.set(timeZone, formatter);
  }
  const parts = formatter.formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { year: get('year'), month: get('month') };
}

export type FieldValues = Partial<Record<FieldToken, string>>;

export const FIELD_VALUE_MAX_LENGTH = 32;

/** Values must be printable, without whitespace, braces or `|` (the counter-key separator). */
export function fieldValueProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (codePointLength(value) > FIELD_VALUE_MAX_LENGTH) return `must be at most ${FIELD_VALUE_MAX_LENGTH} characters`;
  if (!isPrintable(value) || /[\s{}|]/u.test(value)) return 'must be printable, without spaces, braces or "|"';
  return undefined;
}

/** Missing or malformed fields a template needs, each naming the field. */
export function fieldProblems(parsed: ParsedTemplate, fields: FieldValues): string[] {
  const problems: string[] = [];
  for (const token of parsed.fields) {
    const value = fields[token];
    if (value === undefined) problems.push(`fields.${token} is required by this template`);
    else {
      const problem = fieldValueProblem(value);
      if (problem) problems.push(`fields.${token} ${problem}`);
    }
  }
  return problems;
}

export function formatNumber(parsed: ParsedTemplate, fields: FieldValues, date: CalendarDate, sequence: number): string {
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new TemplateError(`sequence must be a positive integer, got ${sequence}`);
  const problems = fieldProblems(parsed, fields);
  if (problems.length) throw new TemplateError(problems.join('; '));
  const out = parsed.parts
    .map((p) => {
      switch (p.kind) {
        case 'literal':
          return p.text;
        case 'field':
          return fields[p.token]!;
        case 'seq':
          return String(sequence).padStart(p.width, '0');
        case 'date':
          return formatDate(p.token, date);
      }
    })
    .join('');
  const length = codePointLength(out);
  if (length < NUMBER_MIN_LENGTH || length > NUMBER_MAX_LENGTH) {
    throw new TemplateError(`the number would be ${length} characters (${JSON.stringify(out)}); numbers must be ${NUMBER_MIN_LENGTH}..${NUMBER_MAX_LENGTH} characters`);
  }
  return out;
}

function formatDate(token: DateToken, d: CalendarDate): string {
  switch (token) {
    case 'YYYY':
    case 'YEAR:A.D.':
      return String(d.year);
    case 'YY':
      return String(d.year % 100).padStart(2, '0');
    case 'MM':
      return String(d.month).padStart(2, '0');
    case 'YEAR:B.E.':
      // Thai Buddhist Era: A.D. + 543.
      return String(d.year + 543);
  }
}

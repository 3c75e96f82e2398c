import type { CalendarDate, FieldValues, ParsedTemplate, ResetScope } from './template.js';

/**
 * A counter is one gapless series. Its key is the template, the reset period and the values of the
 * template's scope fields, e.g. `CORR|2025|PROJECT=LCBP3|ORIGINATOR=ABC|CORR_TYPE=LET`. Field values
 * cannot contain `|` (validated), so the key is unambiguous.
 */

export const COUNTER_KEY_MAX_LENGTH = 255;

export function resetPeriod(scope: ResetScope, date: CalendarDate): string {
  switch (scope) {
    case 'YEARLY':
      return String(date.year);
    case 'MONTHLY':
      return `${date.year}-${String(date.month).padStart(2, '0')}`;
    case 'NONE':
      return '-';
  }
}

export function deriveCounterKey(templateName: string, scope: ResetScope, parsed: ParsedTemplate, fields: FieldValues, date: CalendarDate): string {
  const scoped = parsed.scopeFields.map((token) => {
    const value = fields[token];
    if (value === undefined) throw new Error(`fields.${token} is required by this template`);
    return `${token}=${value}`;
  });
  const key = [templateName, resetPeriod(scope, date), ...scoped].join('|');
  if ([...key].length > COUNTER_KEY_MAX_LENGTH) throw new Error(`the counter key would be longer than ${COUNTER_KEY_MAX_LENGTH} characters; use shorter field values`);
  return key;
}

/** Only the scope fields (and REV, which is printed) are kept with a number, to allocate its replacement. */
export function pickTemplateFields(parsed: ParsedTemplate, fields: FieldValues): FieldValues {
  const out: FieldValues = {};
  for (const token of parsed.fields) if (fields[token] !== undefined) out[token] = fields[token];
  return out;
}

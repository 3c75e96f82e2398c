/**
 * The few facts about templates and counter keys the sequence commands need, with the numbering
 * service's rules (services/numbering/src/domain/template.ts and counter-key.ts): the ops CLI runs
 * where the service's sources are not installed, so they are restated here, and
 * test/sequence-patterns.test.ts checks them against the service's own functions.
 */

/** Field tokens in the service's canonical order; every one but REV scopes a counter. */
export const FIELD_TOKENS = ['PROJECT', 'ORIGINATOR', 'RECIPIENT', 'CORR_TYPE', 'SUB_TYPE', 'RFA_TYPE', 'DISCIPLINE', 'REV'] as const;
export const SCOPE_TOKENS = FIELD_TOKENS.filter((t) => t !== 'REV');

export type ResetScope = 'YEARLY' | 'MONTHLY' | 'NONE';

/** Width n of the pattern's `{SEQ:n}`; undefined if the pattern has none (the service refuses such a template). */
export function seqWidth(pattern: string): number | undefined {
  const m = /\{SEQ:(\d+)\}/.exec(pattern);
  return m ? Number(m[1]) : undefined;
}

/** Largest sequence a `{SEQ:n}` prints in its fixed width: a larger max_value would widen the numbers. */
export const widthLimit = (width: number) => 10 ** width - 1;

/** The field tokens that scope the pattern's counters, in canonical order (as the service's `scopeFields`). */
export function scopeTokens(pattern: string): string[] {
  return SCOPE_TOKENS.filter((t) => pattern.includes(`{${t}}`));
}

/** The reset period a counter of `scope` has at a UTC instant (`2026`, `2026-03`, `-`). */
export function periodAt(scope: ResetScope, at: Date): string {
  const year = at.getUTCFullYear();
  if (scope === 'YEARLY') return String(year);
  if (scope === 'MONTHLY') return `${year}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
  return '-';
}

export interface CounterKeyParts {
  template: string;
  period: string;
  /** `[token, value]` in key order. */
  scope: [string, string][];
}

/**
 * `TEMPLATE|PERIOD|TOKEN=value|...` → its parts. Template names and field values cannot contain `|`
 * (the service validates both), and a value may contain `=`, so each part splits at its first `=`.
 */
export function parseCounterKey(key: string): CounterKeyParts | undefined {
  const [template, period, ...rest] = key.split('|');
  if (!template || period === undefined) return undefined;
  const scope: [string, string][] = [];
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    scope.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  return { template, period, scope };
}

export const formatCounterKey = (parts: CounterKeyParts) => [parts.template, parts.period, ...parts.scope.map(([t, v]) => `${t}=${v}`)].join('|');

/**
 * The year `yearly-reset` prepares when none is given: in December the year about to start (the
 * run prepares it ahead), otherwise the current one (the run checks it). UTC, like the service's
 * default NUMBERING_TIME_ZONE.
 */
export const defaultResetYear = (now: Date) => now.getUTCFullYear() + (now.getUTCMonth() === 11 ? 1 : 0);

export interface YearlyPlan {
  /** Counters of the target year to create, each with the previous year's counter it continues. */
  create: { counterKey: string; from: string }[];
  /** Target-year counters already there (created by the service on first use or by an earlier run). */
  present: string[];
  /** Previous-year counters whose scope no longer matches the template's pattern: the service would derive another key. */
  unmatched: { counterKey: string; why: string }[];
}

/**
 * Which counters of `year` a YEARLY template needs: one per scope its previous-year counters had,
 * with the key the service derives (`TEMPLATE|<year>|<scope>`) when it allocates the first number of
 * that scope in `year`.
 */
export function planYearlyCounters(template: { name: string; pattern: string }, year: number, previousKeys: readonly string[], existingKeys: ReadonlySet<string>): YearlyPlan {
  const expected = scopeTokens(template.pattern).join(',');
  const plan: YearlyPlan = { create: [], present: [], unmatched: [] };
  const seen = new Set<string>();
  for (const from of [...previousKeys].sort()) {
    const parts = parseCounterKey(from);
    if (!parts || parts.template !== template.name || parts.period !== String(year - 1)) {
      plan.unmatched.push({ counterKey: from, why: `not a ${year - 1} counter key of template ${template.name}` });
      continue;
    }
    const tokens = parts.scope.map(([t]) => t).join(',');
    if (tokens !== expected) {
      plan.unmatched.push({ counterKey: from, why: `scoped by ${tokens || 'nothing'}, the pattern now by ${expected || 'nothing'}` });
      continue;
    }
    const counterKey = formatCounterKey({ ...parts, period: String(year) });
    if (seen.has(counterKey)) continue;
    seen.add(counterKey);
    if (existingKeys.has(counterKey)) plan.present.push(counterKey);
    else plan.create.push({ counterKey, from });
  }
  return plan;
}

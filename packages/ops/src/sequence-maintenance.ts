import { OpsError } from './context.js';
import { insertAudit, parseSqlDateTime, sqlDateTime, transaction, type Connection, type Result, type Rows } from './sequence-db.js';
import { planYearlyCounters, seqWidth, widthLimit, type ResetScope } from './sequence-patterns.js';
import type { CounterUsage } from './sequence-report.js';

/**
 * What the sequence commands do to the numbering database, by the service's rules
 * (services/numbering/src/db/admin.ts, ledger.ts, reservations.ts): the counter row is locked with
 * SELECT ... FOR UPDATE before it changes, every change writes its audit rows in the same
 * transaction, ledger rows are never deleted, and a counter never moves so that a number repeats.
 */

// --- ops sequences ------------------------------------------------------------------------------

interface TemplateRow {
  id: number;
  name: string;
  pattern: string;
  resetScope: ResetScope;
  maxValue: number;
  active: boolean;
}

function toTemplate(r: Rows[number]): TemplateRow {
  return { id: Number(r.id), name: String(r.name), pattern: String(r.pattern), resetScope: r.reset_scope as ResetScope, maxValue: Number(r.max_value), active: Number(r.active) === 1 };
}

async function findTemplate(conn: Connection, name: string, forUpdate: boolean): Promise<TemplateRow> {
  const [rows] = await conn.query<Rows>(`SELECT id, name, pattern, reset_scope, max_value, active FROM templates WHERE name = ?${forUpdate ? ' FOR UPDATE' : ''}`, [name]);
  if (rows[0]) return toTemplate(rows[0]);
  const [all] = await conn.query<Rows>('SELECT name FROM templates ORDER BY name');
  throw new OpsError(`unknown template ${JSON.stringify(name)} (templates: ${all.map((r) => String(r.name)).join(', ') || 'none'})`);
}

/** Every counter (of one template) with the ledger rows its current epoch got since `since`; one statement, one snapshot. */
export async function readCounterUsage(conn: Connection, opts: { template?: string; since: Date }): Promise<CounterUsage[]> {
  if (opts.template) await findTemplate(conn, opts.template, false);
  const [rows] = await conn.query<Rows>(
    `SELECT c.counter_key, t.name AS template, t.reset_scope, c.period, c.epoch, c.current_value, c.max_value, c.created_at,
            (SELECT COUNT(*) FROM numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch AND n.created_at >= ?) AS recent
     FROM counters c JOIN templates t ON t.id = c.template_id${opts.template ? ' WHERE t.name = ?' : ''}`,
    [sqlDateTime(opts.since), ...(opts.template ? [opts.template] : [])],
  );
  return rows.map((r) => ({
    counterKey: String(r.counter_key),
    template: String(r.template),
    resetScope: r.reset_scope as ResetScope,
    period: String(r.period),
    epoch: Number(r.epoch),
    currentValue: Number(r.current_value),
    maxValue: Number(r.max_value),
    recentAllocations: Number(r.recent),
    createdAt: parseSqlDateTime(String(r.created_at)),
  }));
}

// --- ops adjust-max -----------------------------------------------------------------------------

export type MaxTarget = { template: string } | { counterKey: string };

export interface MaxAdjustment {
  template: string;
  /** The template's max_value before and after (unchanged for a single counter). */
  templateMax: { from: number; to: number };
  /** Counters whose max_value changed. */
  counters: { counterKey: string; currentValue: number; from: number; to: number }[];
  /** False when everything already had this maximum: nothing was written. */
  changed: boolean;
}

function checkFitsPattern(t: TemplateRow, max: number): void {
  const width = seqWidth(t.pattern);
  if (width !== undefined && max > widthLimit(width)) {
    throw new OpsError(
      `--max ${max} does not fit template ${t.name}'s {SEQ:${width}} (at most ${widthLimit(width)}): its numbers would grow wider. Change the pattern first (PUT /v1/admin/templates/${t.name}), then raise the maximum`,
    );
  }
}

function refuseBelowCurrent(max: number, counters: readonly { counterKey: string; currentValue: number }[]): void {
  const above = counters.filter((c) => c.currentValue > max).sort((a, b) => b.currentValue - a.currentValue);
  if (above.length === 0) return;
  const first = above[0]!;
  throw new OpsError(
    `refused: --max ${max} is below the value ${first.currentValue} that counter ${first.counterKey} has already reached${above.length > 1 ? ` (and ${above.length - 1} more counter${above.length > 2 ? 's' : ''} above ${max})` : ''}; a maximum below a counter's current value is never allowed. Nothing was changed`,
  );
}

/**
 * Sets max_value of a template and all its counters (as the service's POST .../max-value does), or of
 * one counter, in one transaction with audit rows. Locks the template row, then the counter rows, in
 * the order the service's admin transaction takes them.
 */
export async function adjustMax(conn: Connection, target: MaxTarget, max: number, reason: string): Promise<MaxAdjustment> {
  return transaction(conn, async () => {
    if ('template' in target) {
      const t = await findTemplate(conn, target.template, true);
      checkFitsPattern(t, max);
      const [rows] = await conn.query<Rows>('SELECT counter_key, current_value, max_value FROM counters WHERE template_id = ? ORDER BY counter_key FOR UPDATE', [t.id]);
      const counters = rows.map((r) => ({ counterKey: String(r.counter_key), currentValue: Number(r.current_value), from: Number(r.max_value), to: max }));
      refuseBelowCurrent(max, counters);
      const changedCounters = counters.filter((c) => c.from !== max);
      const result = { template: t.name, templateMax: { from: t.maxValue, to: max }, counters: changedCounters, changed: t.maxValue !== max || changedCounters.length > 0 };
      if (!result.changed) return result;
      await conn.query('UPDATE counters SET max_value = ? WHERE template_id = ?', [max, t.id]);
      // The version bump makes the service's allocations re-read the template (as every template change does).
      await conn.query('UPDATE templates SET max_value = ?, version = version + 1 WHERE id = ?', [max, t.id]);
      await insertAudit(conn, [
        { action: 'MAX_VALUE_ADJUST', templateId: t.id, reason, details: { name: t.name, changed: { maxValue: { from: t.maxValue, to: max } }, counters: changedCounters.length } },
        ...changedCounters.map((c) => ({ action: 'MAX_VALUE_ADJUST', templateId: t.id, counterKey: c.counterKey, reason, details: { maxValue: { from: c.from, to: max }, currentValue: c.currentValue } })),
      ]);
      return result;
    }
    // One counter: lock its row first, as an allocation does; the template is only read.
    const [rows] = await conn.query<Rows>('SELECT counter_key, template_id, current_value, max_value FROM counters WHERE counter_key = ? FOR UPDATE', [target.counterKey]);
    const row = rows[0];
    if (!row) throw new OpsError(`no counter ${JSON.stringify(target.counterKey)} (see \`pnpm ops sequences\` for the counter keys)`);
    const [trows] = await conn.query<Rows>('SELECT id, name, pattern, reset_scope, max_value, active FROM templates WHERE id = ?', [row.template_id]);
    const t = toTemplate(trows[0]!);
    checkFitsPattern(t, max);
    const counter = { counterKey: String(row.counter_key), currentValue: Number(row.current_value), from: Number(row.max_value), to: max };
    refuseBelowCurrent(max, [counter]);
    const result = { template: t.name, templateMax: { from: t.maxValue, to: t.maxValue }, counters: counter.from === max ? [] : [counter], changed: counter.from !== max };
    if (!result.changed) return result;
    await conn.query('UPDATE counters SET max_value = ? WHERE counter_key = ?', [max, counter.counterKey]);
    await insertAudit(conn, [{ action: 'MAX_VALUE_ADJUST', templateId: t.id, counterKey: counter.counterKey, reason, details: { maxValue: { from: counter.from, to: max }, currentValue: counter.currentValue, templateMaxValue: t.maxValue } }]);
    return result;
  });
}

// --- ops yearly-reset ---------------------------------------------------------------------------

export interface YearlyTemplateResult {
  template: string;
  /** Counters of the previous year (the scopes to carry over). */
  previous: number;
  created: string[];
  present: { counterKey: string; currentValue: number; epoch: number; maxValue: number }[];
  unmatched: { counterKey: string; why: string }[];
  /** Present counters whose max_value is not the template's (a per-counter adjust-max, or a stale row). */
  maxDiffers: { counterKey: string; maxValue: number }[];
  templateMax: number;
}

export interface YearlyResult {
  year: number;
  templates: YearlyTemplateResult[];
  /** YEARLY templates that are deactivated: the service allocates nothing from them. */
  inactive: string[];
}

/**
 * The service starts a new year's series lazily: the first allocation of a year derives a counter key
 * with the new period and creates that counter (`INSERT IGNORE`, epoch 1, value 0, the template's
 * max_value). This creates those rows ahead, one per scope the previous year had, exactly as the
 * service would (so its first allocation finds and locks the row), with an audit row each. Counters
 * that exist already (the service or an earlier run made them) are left as they are: a second run
 * changes nothing.
 */
export async function yearlyReset(conn: Connection, opts: { year: number; dryRun: boolean; reason: string }): Promise<YearlyResult> {
  const [rows] = await conn.query<Rows>("SELECT id, name, pattern, reset_scope, max_value, active FROM templates WHERE reset_scope = 'YEARLY' ORDER BY name");
  const templates = rows.map(toTemplate);
  const result: YearlyResult = { year: opts.year, templates: [], inactive: templates.filter((t) => !t.active).map((t) => t.name) };
  for (const t of templates.filter((x) => x.active)) {
    result.templates.push(
      await transaction(conn, async () => {
        const [prev] = await conn.query<Rows>('SELECT counter_key FROM counters WHERE template_id = ? AND period = ?', [t.id, String(opts.year - 1)]);
        const [cur] = await conn.query<Rows>('SELECT counter_key, current_value, epoch, max_value FROM counters WHERE template_id = ? AND period = ?', [t.id, String(opts.year)]);
        const existing = new Map(cur.map((r) => [String(r.counter_key), { counterKey: String(r.counter_key), currentValue: Number(r.current_value), epoch: Number(r.epoch), maxValue: Number(r.max_value) }]));
        const plan = planYearlyCounters(t, opts.year, prev.map((r) => String(r.counter_key)), new Set(existing.keys()));
        const out: YearlyTemplateResult = {
          template: t.name,
          previous: prev.length,
          created: [],
          present: [...existing.values()].sort((a, b) => a.counterKey.localeCompare(b.counterKey)),
          unmatched: plan.unmatched,
          maxDiffers: [],
          templateMax: t.maxValue,
        };
        for (const c of plan.create) {
          if (opts.dryRun) {
            out.created.push(c.counterKey);
            continue;
          }
          // The service's own statement: if an allocation created the row a moment ago, this is a no-op.
          const [res] = await conn.query<Result>('INSERT IGNORE INTO counters (counter_key, template_id, period, max_value) VALUES (?, ?, ?, ?)', [c.counterKey, t.id, String(opts.year), t.maxValue]);
          if (res.affectedRows === 1) {
            out.created.push(c.counterKey);
            await insertAudit(conn, [{ action: 'COUNTER_PRECREATE', templateId: t.id, counterKey: c.counterKey, reason: opts.reason, details: { period: String(opts.year), epoch: 1, currentValue: 0, maxValue: t.maxValue, continues: c.from } }]);
          } else {
            const [again] = await conn.query<Rows>('SELECT counter_key, current_value, epoch, max_value FROM counters WHERE counter_key = ?', [c.counterKey]);
            const r = again[0]!;
            out.present.push({ counterKey: c.counterKey, currentValue: Number(r.current_value), epoch: Number(r.epoch), maxValue: Number(r.max_value) });
          }
        }
        out.maxDiffers = out.present.filter((p) => p.maxValue !== t.maxValue).map((p) => ({ counterKey: p.counterKey, maxValue: p.maxValue }));
        return out;
      }),
    );
  }
  return result;
}

// --- ops cleanup-reservations -------------------------------------------------------------------

export interface ExpiryResult {
  /** Reservations past expires_at, per counter (dry run: would expire; otherwise: expired). */
  byCounter: Map<string, number>;
  total: number;
  /** Still RESERVED afterwards and not yet due. */
  pending: number;
}

/**
 * RESERVED rows whose expires_at has passed become EXPIRED, as the service's sweeper does
 * (services/numbering/src/db/reservations.ts expireReservations): batches locked with
 * FOR UPDATE SKIP LOCKED (a row the service is confirming or sweeping right now is left to it), an
 * UPDATE that re-checks the state, and an EXPIRE audit row per number. Nothing is deleted: the
 * numbers stay in the ledger, used and accounted for.
 */
export async function expireReservations(conn: Connection, opts: { dryRun: boolean; batchSize?: number }): Promise<ExpiryResult> {
  const byCounter = new Map<string, number>();
  let total = 0;
  if (opts.dryRun) {
    const [rows] = await conn.query<Rows>("SELECT counter_key, COUNT(*) AS n FROM numbers WHERE state = 'RESERVED' AND expires_at <= NOW(3) GROUP BY counter_key ORDER BY counter_key");
    for (const r of rows) {
      byCounter.set(String(r.counter_key), Number(r.n));
      total += Number(r.n);
    }
  } else {
    const limit = opts.batchSize ?? 500;
    for (;;) {
      const expired = await transaction(conn, async () => {
        const [rows] = await conn.query<Rows>(
          "SELECT id, number, sequence, counter_key, template_id, expires_at FROM numbers WHERE state = 'RESERVED' AND expires_at <= NOW(3) ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED",
          [limit],
        );
        if (rows.length === 0) return [];
        const [res] = await conn.query<Result>("UPDATE numbers SET state = 'EXPIRED' WHERE id IN (?) AND state = 'RESERVED'", [rows.map((r) => r.id)]);
        if (res.affectedRows !== rows.length) throw new Error(`expected to expire ${rows.length} locked reservations, the UPDATE changed ${res.affectedRows}`);
        await insertAudit(
          conn,
          rows.map((r) => ({ action: 'EXPIRE', templateId: Number(r.template_id), counterKey: String(r.counter_key), number: String(r.number), sequence: Number(r.sequence), reason: 'reservation expired', details: { expiresAt: String(r.expires_at), by: 'ops cleanup-reservations' } })),
        );
        return rows.map((r) => String(r.counter_key));
      });
      for (const key of expired) byCounter.set(key, (byCounter.get(key) ?? 0) + 1);
      total += expired.length;
      if (expired.length < limit) break;
    }
  }
  const [[pending]] = await conn.query<Rows>("SELECT COUNT(*) AS n FROM numbers WHERE state = 'RESERVED' AND expires_at > NOW(3)");
  return { byCounter, total, pending: Number(pending?.n ?? 0) };
}

import { badRequest, conflict, notFound } from '../domain/errors.js';
import { validateTemplate, TemplateError, type ResetScope } from '../domain/template.js';
import { insertAudit } from './audit.js';
import { duplicateKeyName, ER, inTransaction, sqlErrno, type Connection, type Pool, type Result, type Rows } from './pool.js';
import { findTemplateByName, type TemplateRow } from './templates.js';

/**
 * Admin changes. Each runs in one transaction with its audit row (who, what, why, before/after).
 * None of them deletes anything, and none can make a number repeat: max_value cannot drop below a
 * counter's value, a counter only moves forward (skipped values are recorded as SKIPPED), and a
 * reset starts a new epoch whose numbers are checked against every number issued before.
 */

export interface TemplateInput {
  pattern: string;
  resetScope: ResetScope;
  maxValue?: number;
  description?: string;
}

/** The largest skip one override may record (each skipped value is a ledger row). */
export const MAX_OVERRIDE_JUMP = 100_000;

function checkDefinition(def: { pattern: string; resetScope: ResetScope; maxValue: number }) {
  try {
    return validateTemplate(def);
  } catch (e) {
    if (e instanceof TemplateError) throw badRequest(`invalid template: ${e.message}`);
    throw e;
  }
}

/** Admin transactions retry a deadlock with a concurrent allocation once or twice. */
async function adminTransaction<T>(pool: Pool, work: (conn: Connection) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(pool, work);
    } catch (e) {
      if (sqlErrno(e) === ER.LOCK_DEADLOCK && attempt < 3) continue;
      throw e;
    }
  }
}

async function lockTemplate(conn: Connection, name: string): Promise<TemplateRow> {
  const t = await findTemplateByName(conn, name, true);
  if (!t) throw notFound(`unknown template ${JSON.stringify(name)}`);
  return t;
}

async function highestCounter(conn: Connection, templateId: number): Promise<{ value: number; counterKey: string | null }> {
  const [rows] = await conn.query<Rows>('SELECT counter_key, current_value FROM counters WHERE template_id = ? ORDER BY current_value DESC LIMIT 1 FOR UPDATE', [templateId]);
  return { value: Number(rows[0]?.current_value ?? 0), counterKey: (rows[0]?.counter_key as string | undefined) ?? null };
}

export async function createTemplate(pool: Pool, name: string, input: TemplateInput, reason: string, actor: string): Promise<TemplateRow> {
  const parsed = checkDefinition({ pattern: input.pattern, resetScope: input.resetScope, maxValue: input.maxValue ?? 1 });
  const maxValue = input.maxValue ?? 10 ** parsed.seqWidth - 1;
  return adminTransaction(pool, async (conn) => {
    try {
      const [res] = await conn.query<Result>('INSERT INTO templates (name, pattern, reset_scope, max_value, description) VALUES (?, ?, ?, ?, ?)', [
        name,
        input.pattern,
        input.resetScope,
        maxValue,
        input.description ?? '',
      ]);
      await insertAudit(conn, [{ actor, action: 'TEMPLATE_CREATE', templateId: res.insertId, reason, details: { name, pattern: input.pattern, resetScope: input.resetScope, maxValue } }]);
    } catch (e) {
      if (duplicateKeyName(e) === 'uq_templates_name') throw conflict('TEMPLATE_EXISTS', `template ${name} already exists (templates are never deleted; deactivated ones can be changed and reactivated)`);
      throw e;
    }
    return (await findTemplateByName(conn, name))!;
  });
}

export interface TemplatePatch {
  pattern?: string;
  resetScope?: ResetScope;
  maxValue?: number;
  description?: string;
  active?: boolean;
}

export async function updateTemplate(pool: Pool, name: string, patch: TemplatePatch, reason: string, actor: string, action = 'TEMPLATE_UPDATE'): Promise<TemplateRow> {
  return adminTransaction(pool, async (conn) => {
    const before = await lockTemplate(conn, name);
    const after = {
      pattern: patch.pattern ?? before.pattern,
      resetScope: patch.resetScope ?? before.resetScope,
      maxValue: patch.maxValue ?? before.maxValue,
      description: patch.description ?? before.description,
      active: patch.active ?? before.active,
    };
    checkDefinition(after);
    if (after.maxValue !== before.maxValue) {
      const highest = await highestCounter(conn, before.id);
      if (after.maxValue < highest.value) {
        throw conflict('MAX_BELOW_CURRENT', `max_value ${after.maxValue} is below the value ${highest.value} counter ${highest.counterKey} has already reached`);
      }
      await conn.query('UPDATE counters SET max_value = ? WHERE template_id = ?', [after.maxValue, before.id]);
    }
    await conn.query('UPDATE templates SET pattern = ?, reset_scope = ?, max_value = ?, description = ?, active = ?, version = version + 1 WHERE id = ?', [
      after.pattern,
      after.resetScope,
      after.maxValue,
      after.description,
      after.active ? 1 : 0,
      before.id,
    ]);
    const changed = Object.fromEntries(
      (Object.keys(after) as (keyof typeof after)[]).filter((k) => after[k] !== before[k]).map((k) => [k, { from: before[k], to: after[k] }]),
    );
    await insertAudit(conn, [{ actor, action, templateId: before.id, reason, details: { name, changed } }]);
    return (await findTemplateByName(conn, name))!;
  });
}

export interface CounterView {
  counterKey: string;
  template: string;
  period: string;
  epoch: number;
  currentValue: number;
  maxValue: number;
  utilization: number;
  updatedAt: Date;
}

function toCounter(r: Rows[number]): CounterView {
  const current = Number(r.current_value);
  const max = Number(r.max_value);
  return {
    counterKey: String(r.counter_key),
    template: String(r.template),
    period: String(r.period),
    epoch: Number(r.epoch),
    currentValue: current,
    maxValue: max,
    utilization: max > 0 ? Math.min(1, current / max) : 1,
    updatedAt: r.updated_at as Date,
  };
}

const COUNTER_SELECT = 'SELECT c.counter_key, t.name AS template, c.period, c.epoch, c.current_value, c.max_value, c.updated_at FROM counters c JOIN templates t ON t.id = c.template_id';

export async function listCounters(db: Pool | Connection, opts: { template?: string; limit: number }): Promise<CounterView[]> {
  const [rows] = opts.template
    ? await db.query<Rows>(`${COUNTER_SELECT} WHERE t.name = ? ORDER BY c.updated_at DESC LIMIT ?`, [opts.template, opts.limit])
    : await db.query<Rows>(`${COUNTER_SELECT} ORDER BY c.updated_at DESC LIMIT ?`, [opts.limit]);
  return rows.map(toCounter);
}

async function lockCounterView(conn: Connection, counterKey: string): Promise<CounterView & { templateId: number }> {
  const [rows] = await conn.query<Rows>(`${COUNTER_SELECT.replace('c.updated_at FROM', 'c.updated_at, c.template_id FROM')} WHERE c.counter_key = ? FOR UPDATE`, [counterKey]);
  if (!rows[0]) throw notFound(`no counter ${counterKey}`);
  return { ...toCounter(rows[0]), templateId: Number(rows[0].template_id) };
}

/** Starts a new epoch at 0. Numbers the new epoch would print again are skipped, never reissued. */
export async function resetCounter(pool: Pool, counterKey: string, reason: string, actor: string): Promise<CounterView> {
  return adminTransaction(pool, async (conn) => {
    const before = await lockCounterView(conn, counterKey);
    await conn.query('UPDATE counters SET epoch = epoch + 1, current_value = 0 WHERE counter_key = ?', [counterKey]);
    await insertAudit(conn, [{ actor, action: 'COUNTER_RESET', templateId: before.templateId, counterKey, reason, details: { fromEpoch: before.epoch, fromValue: before.currentValue, toEpoch: before.epoch + 1 } }]);
    const [after] = await conn.query<Rows>(`${COUNTER_SELECT} WHERE c.counter_key = ?`, [counterKey]);
    return toCounter(after[0]!);
  });
}

/**
 * Moves a counter forward to `value`: the next number gets value + 1. The values in between are
 * recorded as SKIPPED ledger rows, so the series still has no unaccounted gap. Moving backwards
 * would reissue numbers and is refused.
 */
export async function overrideCounter(pool: Pool, counterKey: string, value: number, reason: string, actor: string): Promise<CounterView> {
  return adminTransaction(pool, async (conn) => {
    const before = await lockCounterView(conn, counterKey);
    if (value <= before.currentValue) throw conflict('OVERRIDE_BACKWARDS', `counter ${counterKey} is at ${before.currentValue}; it can only move forward (a lower value would reissue numbers)`);
    if (value > before.maxValue) throw conflict('OVERRIDE_ABOVE_MAX', `value ${value} is above max_value ${before.maxValue}`);
    if (value - before.currentValue > MAX_OVERRIDE_JUMP) throw badRequest(`an override may skip at most ${MAX_OVERRIDE_JUMP} values at once`);
    for (let from = before.currentValue + 1; from <= value; from += 1000) {
      const rows: unknown[][] = [];
      for (let seq = from; seq <= Math.min(value, from + 999); seq++) {
        rows.push([counterKey, before.epoch, seq, null, before.templateId, 'SKIPPED', '{}', `manual override: ${reason}`.slice(0, 500), actor]);
      }
      await conn.query('INSERT INTO numbers (counter_key, epoch, sequence, number, template_id, state, fields, note, issued_by) VALUES ?', [rows]);
    }
    await conn.query('UPDATE counters SET current_value = ? WHERE counter_key = ?', [value, counterKey]);
    await insertAudit(conn, [{ actor, action: 'COUNTER_OVERRIDE', templateId: before.templateId, counterKey, reason, details: { epoch: before.epoch, from: before.currentValue, to: value, skipped: value - before.currentValue } }]);
    const [after] = await conn.query<Rows>(`${COUNTER_SELECT} WHERE c.counter_key = ?`, [counterKey]);
    return toCounter(after[0]!);
  });
}

export interface AuditView {
  id: number;
  createdAt: Date;
  actor: string;
  action: string;
  counterKey: string | null;
  number: string | null;
  sequence: number | null;
  reason: string | null;
  details: unknown;
}

export async function listAudit(db: Pool | Connection, opts: { counterKey?: string; number?: string; limit: number }): Promise<AuditView[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.counterKey) {
    where.push('counter_key = ?');
    params.push(opts.counterKey);
  }
  if (opts.number) {
    where.push('number = ?');
    params.push(opts.number);
  }
  const [rows] = await db.query<Rows>(`SELECT id, created_at, actor, action, counter_key, number, sequence, reason, details FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, opts.limit]);
  return rows.map((r) => ({
    id: Number(r.id),
    createdAt: r.created_at as Date,
    actor: String(r.actor),
    action: String(r.action),
    counterKey: (r.counter_key as string | null) ?? null,
    number: (r.number as string | null) ?? null,
    sequence: r.sequence === null ? null : Number(r.sequence),
    reason: (r.reason as string | null) ?? null,
    details: r.details ? (JSON.parse(String(r.details)) as unknown) : null,
  }));
}

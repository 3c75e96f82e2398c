import { randomUUID } from 'node:crypto';
import { planBatch, planCandidates, type BatchPlan } from '../domain/allocation.js';
import { conflict, notFound, ServiceError } from '../domain/errors.js';
import { formatNumber, type CalendarDate, type FieldValues, type ParsedTemplate } from '../domain/template.js';
import { insertAudit, type AuditRow } from './audit.js';
import type { Connection, Result, Rows } from './pool.js';

/**
 * The allocation transaction. The caller has opened it; everything here runs on one connection:
 * lock the counter row (`SELECT ... FOR UPDATE`), plan the batch, advance the counter, insert the
 * ledger rows and their audit rows. The caller commits, and only then answers the clients, so an
 * acknowledged number is always in the ledger, and the counter never moves without its ledger rows.
 */

export type EntryKind = 'confirm' | 'reserve' | 'replace';

export interface BatchEntry {
  kind: EntryKind;
  fields: FieldValues;
  date: CalendarDate;
  /** confirm: Idempotency-Key and the request's fingerprint. */
  idempotencyKey?: string;
  requestHash?: string;
  /** reserve: lifetime of the reservation. */
  ttlSeconds?: number;
  /** replace: the CONFIRMED number to void, and why. */
  voidNumber?: string;
  reason?: string;
}

export interface TemplateRef {
  id: number;
  name: string;
  version: number;
  maxValue: number;
  period: string;
  parsed: ParsedTemplate;
}

export interface Allocated {
  number: string;
  sequence: number;
  counterKey: string;
  state: 'CONFIRMED' | 'RESERVED';
  token?: string;
  expiresAt?: Date;
  voidedFrom?: string;
  /** The Idempotency-Key was seen before with the same body: this is the earlier answer. */
  replayed?: boolean;
}

export type EntryOutcome = { ok: true; value: Allocated } | { ok: false; error: ServiceError };

export interface BatchResult {
  outcomes: EntryOutcome[];
  current: number;
  max: number;
  /** Time spent waiting for the counter row lock. */
  rowLockWaitMs: number;
}

/**
 * The template changed (pattern, scope, max) since the request derived its counter key. The
 * service retries once with the new definition; if it changes again the client gets a 503.
 */
export class TemplateChangedError extends ServiceError {
  constructor(name: string) {
    super(503, 'TEMPLATE_CHANGED', `template ${name} changed while the request was in flight; retry`, 1);
    this.name = 'TemplateChangedError';
  }
}

interface CounterRow {
  epoch: number;
  current: number;
  max: number;
  now: Date;
}

async function lockCounter(conn: Connection, counterKey: string): Promise<CounterRow | undefined> {
  const [rows] = await conn.query<Rows>('SELECT epoch, current_value, max_value, NOW(3) AS db_now FROM counters WHERE counter_key = ? FOR UPDATE', [counterKey]);
  const r = rows[0];
  return r && { epoch: Number(r.epoch), current: Number(r.current_value), max: Number(r.max_value), now: r.db_now as Date };
}

export interface AllocateBatchInput {
  counterKey: string;
  template: TemplateRef;
  entries: readonly BatchEntry[];
  /** Who issues (`service/stable/<host>`), stored with every row. */
  actor: string;
  /** Look for already-issued numbers before inserting (after a duplicate-number error). */
  checkCollisions: boolean;
}

export async function allocateBatch(conn: Connection, input: AllocateBatchInput): Promise<BatchResult> {
  const { counterKey, template, entries, actor } = input;
  const waitStarted = performance.now();
  let counter = await lockCounter(conn, counterKey);
  if (!counter) {
    // First number of this series. INSERT IGNORE: a concurrent creator wins, we then lock its row.
    await conn.query('INSERT IGNORE INTO counters (counter_key, template_id, period, max_value) VALUES (?, ?, ?, ?)', [counterKey, template.id, template.period, template.maxValue]);
    counter = await lockCounter(conn, counterKey);
    if (!counter) throw new Error(`counter ${counterKey} could not be created`);
  }
  const rowLockWaitMs = performance.now() - waitStarted;

  const outcomes: (EntryOutcome | undefined)[] = entries.map(() => undefined);
  const fail = (i: number, error: ServiceError) => (outcomes[i] = { ok: false, error });

  const [tpl] = await conn.query<Rows>('SELECT version, active FROM templates WHERE id = ?', [template.id]);
  if (!tpl[0] || Number(tpl[0].active) !== 1) {
    entries.forEach((_, i) => fail(i, conflict('TEMPLATE_INACTIVE', `template ${template.name} is deactivated`)));
    return { outcomes: outcomes as EntryOutcome[], current: counter.current, max: counter.max, rowLockWaitMs };
  }
  if (Number(tpl[0].version) !== template.version) throw new TemplateChangedError(template.name);

  await resolveIdempotency(conn, entries, outcomes);
  const voided = await lockNumbersToVoid(conn, entries, outcomes);

  const pending = entries.map((entry, index) => ({ entry, index })).filter(({ index }) => outcomes[index] === undefined);
  const format = (p: { entry: BatchEntry }, sequence: number) => formatNumber(template.parsed, p.entry.fields, p.entry.date, sequence);
  // After a reset (epoch > 1) the series reprints old numbers until it passes them: check up front.
  const plan = input.checkCollisions || counter.epoch > 1
    ? await planAroundIssuedNumbers(conn, counter, pending, format)
    : planBatch({ current: counter.current, max: counter.max, entries: pending, format });

  for (const e of plan.exhausted) {
    fail(e.index, conflict('SEQUENCE_EXHAUSTED', `counter ${counterKey} is exhausted: max_value ${counter.max} reached; an admin can raise max_value of template ${template.name}`));
  }

  const fieldsJson = (e: BatchEntry) => JSON.stringify(e.fields);
  const ledgerRows: unknown[][] = [];
  const audit: AuditRow[] = [];
  for (const a of plan.assigned) {
    const e = a.entry.entry;
    const token = e.kind === 'reserve' ? randomUUID() : null;
    const expiresAt = e.kind === 'reserve' ? new Date(counter.now.getTime() + (e.ttlSeconds ?? 300) * 1000) : null;
    const state = e.kind === 'reserve' ? 'RESERVED' : 'CONFIRMED';
    ledgerRows.push([counterKey, counter.epoch, a.sequence, a.number, template.id, state, fieldsJson(e), token, expiresAt, e.idempotencyKey ?? null, e.requestHash ?? null, e.voidNumber ?? null, e.kind === 'replace' ? (e.reason ?? null) : null, actor]);
    audit.push({
      actor,
      action: e.kind === 'reserve' ? 'RESERVE' : e.kind === 'replace' ? 'REPLACE' : 'ALLOCATE',
      templateId: template.id,
      counterKey,
      number: a.number,
      sequence: a.sequence,
      reason: e.kind === 'replace' ? (e.reason ?? null) : null,
      details: e.kind === 'replace' ? { voidedFrom: e.voidNumber } : e.kind === 'reserve' ? { expiresAt } : null,
    });
    outcomes[a.entry.index] = {
      ok: true,
      value: {
        number: a.number,
        sequence: a.sequence,
        counterKey,
        state,
        ...(token ? { token, expiresAt: expiresAt! } : {}),
        ...(e.voidNumber ? { voidedFrom: e.voidNumber } : {}),
      },
    };
  }
  for (const s of plan.skipped) {
    ledgerRows.push([counterKey, counter.epoch, s.sequence, null, template.id, 'SKIPPED', '{}', null, null, null, null, null, `${s.number} was already issued`, actor]);
    audit.push({ actor, action: 'SKIP', templateId: template.id, counterKey, sequence: s.sequence, reason: `${s.number} was already issued` });
  }

  if (plan.next !== counter.current) {
    await conn.query('UPDATE counters SET current_value = ? WHERE counter_key = ?', [plan.next, counterKey]);
  }
  if (ledgerRows.length > 0) {
    await conn.query(
      'INSERT INTO numbers (counter_key, epoch, sequence, number, template_id, state, fields, reservation_token, expires_at, idempotency_key, request_hash, voided_from, note, issued_by) VALUES ?',
      [ledgerRows],
    );
  }
  for (const v of voided) {
    const replacement = outcomes[v.index];
    if (!replacement?.ok) continue;
    const [res] = await conn.query<Result>("UPDATE numbers SET state = 'VOID', replaced_by = ?, note = ? WHERE number = ? AND state = 'CONFIRMED'", [replacement.value.number, v.reason, v.number]);
    if (res.affectedRows !== 1) throw new Error(`number ${v.number} changed state while locked`);
    audit.push({ actor, action: 'VOID', templateId: v.templateId, counterKey: v.counterKey, number: v.number, sequence: v.sequence, reason: v.reason, details: { replacedBy: replacement.value.number } });
  }
  await insertAudit(conn, audit);
  return { outcomes: outcomes.map((o) => o ?? { ok: false, error: new ServiceError(500, 'INTERNAL', 'allocation left a request unanswered') }), current: plan.next, max: counter.max, rowLockWaitMs };
}

/** Replays and conflicts of Idempotency-Keys already in the ledger. */
async function resolveIdempotency(conn: Connection, entries: readonly BatchEntry[], outcomes: (EntryOutcome | undefined)[]): Promise<void> {
  const keys = [...new Set(entries.flatMap((e) => (e.idempotencyKey ? [e.idempotencyKey] : [])))];
  if (keys.length === 0) return;
  const [rows] = await conn.query<Rows>('SELECT idempotency_key, request_hash, number, sequence, counter_key FROM numbers WHERE idempotency_key IN (?)', [keys]);
  const found = new Map(rows.map((r) => [String(r.idempotency_key), r]));
  const seenInBatch = new Set<string>();
  entries.forEach((e, i) => {
    if (!e.idempotencyKey) return;
    const row = found.get(e.idempotencyKey);
    if (row) {
      outcomes[i] =
        row.request_hash === e.requestHash
          ? { ok: true, value: { number: String(row.number), sequence: Number(row.sequence), counterKey: String(row.counter_key), state: 'CONFIRMED', replayed: true } }
          : { ok: false, error: conflict('IDEMPOTENCY_CONFLICT', `Idempotency-Key ${e.idempotencyKey} was already used with a different request body (number ${String(row.number)})`) };
    } else if (seenInBatch.has(e.idempotencyKey)) {
      // The allocator never batches one key twice; refuse rather than issue two numbers for it.
      outcomes[i] = { ok: false, error: conflict('IDEMPOTENCY_IN_PROGRESS', `a request with Idempotency-Key ${e.idempotencyKey} is in progress; retry`) };
    }
    seenInBatch.add(e.idempotencyKey);
  });
}

interface VoidTarget {
  index: number;
  number: string;
  reason: string;
  templateId: number;
  counterKey: string;
  sequence: number;
}

/** Locks each number a `replace` entry voids and checks it is still CONFIRMED. */
async function lockNumbersToVoid(conn: Connection, entries: readonly BatchEntry[], outcomes: (EntryOutcome | undefined)[]): Promise<VoidTarget[]> {
  const targets: VoidTarget[] = [];
  for (const [index, e] of entries.entries()) {
    if (e.kind !== 'replace' || outcomes[index]) continue;
    const number = e.voidNumber!;
    const [rows] = await conn.query<Rows>('SELECT state, replaced_by, template_id, counter_key, sequence FROM numbers WHERE number = ? FOR UPDATE', [number]);
    const row = rows[0];
    if (!row) {
      outcomes[index] = { ok: false, error: notFound(`number ${number} does not exist`) };
    } else if (row.state !== 'CONFIRMED') {
      const hint = row.state === 'VOID' ? ` (replaced by ${String(row.replaced_by)})` : '';
      outcomes[index] = { ok: false, error: conflict('INVALID_STATE', `number ${number} is ${String(row.state)}${hint}; only CONFIRMED numbers can be voided`) };
    } else if (targets.some((t) => t.number === number)) {
      outcomes[index] = { ok: false, error: conflict('INVALID_STATE', `number ${number} is being voided by another request`) };
    } else {
      targets.push({ index, number, reason: e.reason ?? '', templateId: Number(row.template_id), counterKey: String(row.counter_key), sequence: Number(row.sequence) });
    }
  }
  return targets;
}

type Pending = { entry: BatchEntry; index: number };

/**
 * Plans with the numbers that already exist taken out: asks the ledger which candidates exist,
 * re-plans, and repeats until the plan only prints numbers known to be free.
 */
async function planAroundIssuedNumbers(conn: Connection, counter: CounterRow, pending: Pending[], format: (p: Pending, seq: number) => string): Promise<BatchPlan<Pending>> {
  const taken = new Set<string>();
  const checked = new Set<string>();
  for (let round = 0; round < 1000; round++) {
    const plan = planBatch({ current: counter.current, max: counter.max, entries: pending, format, taken });
    const unknown = planCandidates(plan).filter((n) => !checked.has(n));
    if (unknown.length === 0) return plan;
    const [rows] = await conn.query<Rows>('SELECT number FROM numbers WHERE number IN (?)', [unknown]);
    unknown.forEach((n) => checked.add(n));
    rows.forEach((r) => taken.add(String(r.number)));
  }
  throw new Error('could not find free numbers after 1000 rounds');
}

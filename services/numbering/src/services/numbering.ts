import { deriveCounterKey, pickTemplateFields, resetPeriod } from '../domain/counter-key.js';
import { badRequest, conflict, notFound } from '../domain/errors.js';
import { requestHash } from '../domain/idempotency.js';
import { calendarDate, fieldProblems, formatNumber, TemplateError, type FieldValues } from '../domain/template.js';
import { TemplateChangedError, type Allocated, type BatchEntry } from '../db/ledger.js';
import type { Pool, Rows } from '../db/pool.js';
import { transitionReservation, type ReservationView } from '../db/reservations.js';
import type { AllocationRequest, Allocator } from './allocator.js';
import type { TemplateCache } from './template-cache.js';

/** What the API does, in terms of templates, the allocator and the ledger. Routes stay thin. */

export interface NumberBody {
  template: string;
  fields: FieldValues;
}

export type NumberState = 'RESERVED' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED' | 'VOID' | 'SKIPPED';

export interface NumberView {
  number: string;
  state: NumberState;
  sequence: number;
  counterKey: string;
  template: string;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
  voidedFrom: string | null;
  replacedBy: string | null;
}

export interface NumberingServiceOptions {
  pool: Pool;
  allocator: Allocator;
  templates: TemplateCache;
  timeZone: string;
  actor: string;
  reservationTtlSeconds: number;
  now?: () => Date;
}

export class NumberingService {
  constructor(private readonly opts: NumberingServiceOptions) {}

  /** POST /v1/numbers: a CONFIRMED number, once per Idempotency-Key. */
  allocateConfirmed(body: NumberBody, idempotencyKey: string): Promise<Allocated> {
    const hash = requestHash(body);
    return this.allocate(body.template, body.fields, { kind: 'confirm', idempotencyKey, requestHash: hash });
  }

  /** POST /v1/reservations: a RESERVED number that expires unless confirmed. */
  reserve(body: NumberBody, ttlSeconds?: number): Promise<Allocated> {
    return this.allocate(body.template, body.fields, { kind: 'reserve', ttlSeconds: ttlSeconds ?? this.opts.reservationTtlSeconds });
  }

  confirm(token: string): Promise<ReservationView> {
    return transitionReservation(this.opts.pool, token, 'confirm', this.opts.actor);
  }

  cancel(token: string, reason?: string): Promise<ReservationView> {
    return transitionReservation(this.opts.pool, token, 'cancel', this.opts.actor, reason);
  }

  /** POST /v1/numbers/:number/void: VOID plus a replacement from the same template and fields. */
  async voidNumber(number: string, reason: string): Promise<{ voided: NumberView; replacement: Allocated }> {
    const original = await this.getNumber(number);
    if (original.state !== 'CONFIRMED') {
      const hint = original.state === 'VOID' && original.replacedBy ? ` (replaced by ${original.replacedBy})` : '';
      throw conflict('INVALID_STATE', `number ${number} is ${original.state}${hint}; only CONFIRMED numbers can be voided`);
    }
    const [rows] = await this.opts.pool.query<Rows>('SELECT fields FROM numbers WHERE number = ?', [number]);
    const fields = JSON.parse(String(rows[0]?.fields ?? '{}')) as FieldValues;
    const replacement = await this.allocate(original.template, fields, { kind: 'replace', voidNumber: number, reason });
    return { voided: { ...(await this.getNumber(number)) }, replacement };
  }

  /** POST /v1/preview: the number the next allocation would get now; consumes nothing. */
  async preview(body: NumberBody): Promise<{ number: string; sequence: number; counterKey: string }> {
    const req = await this.buildRequest(body.template, body.fields, { kind: 'confirm' }, false);
    const [rows] = await this.opts.pool.query<Rows>('SELECT current_value, max_value FROM counters WHERE counter_key = ?', [req.counterKey]);
    const current = Number(rows[0]?.current_value ?? 0);
    const max = Number(rows[0]?.max_value ?? req.template.maxValue);
    if (current >= max) throw conflict('SEQUENCE_EXHAUSTED', `counter ${req.counterKey} is exhausted: max_value ${max} reached`);
    return { number: formatNumber(req.template.parsed, req.fields, req.date, current + 1), sequence: current + 1, counterKey: req.counterKey };
  }

  async getNumber(number: string): Promise<NumberView> {
    const [rows] = await this.opts.pool.query<Rows>(
      `SELECT n.number, n.state, n.sequence, n.counter_key, t.name AS template, n.created_at, n.updated_at, n.expires_at, n.voided_from, n.replaced_by
       FROM numbers n JOIN templates t ON t.id = n.template_id WHERE n.number = ?`,
      [number],
    );
    const r = rows[0];
    if (!r) throw notFound(`number ${number} does not exist`);
    return {
      number: String(r.number),
      state: String(r.state) as NumberState,
      sequence: Number(r.sequence),
      counterKey: String(r.counter_key),
      template: String(r.template),
      createdAt: r.created_at as Date,
      updatedAt: r.updated_at as Date,
      expiresAt: (r.expires_at as Date | null) ?? null,
      voidedFrom: (r.voided_from as string | null) ?? null,
      replacedBy: (r.replaced_by as string | null) ?? null,
    };
  }

  private async allocate(templateName: string, fields: FieldValues, entry: Omit<BatchEntry, 'fields' | 'date'>): Promise<Allocated> {
    try {
      return await this.opts.allocator.allocate(await this.buildRequest(templateName, fields, entry, false));
    } catch (e) {
      if (!(e instanceof TemplateChangedError)) throw e;
      // An admin changed the template meanwhile: derive the counter again from the new definition.
      this.opts.templates.invalidate(templateName);
      return this.opts.allocator.allocate(await this.buildRequest(templateName, fields, entry, true));
    }
  }

  private async buildRequest(templateName: string, fields: FieldValues, entry: Omit<BatchEntry, 'fields' | 'date'>, fresh: boolean): Promise<AllocationRequest> {
    const { row, parsed } = await this.opts.templates.get(templateName, { fresh });
    const problems = fieldProblems(parsed, fields);
    if (problems.length) throw badRequest(`${problems.join('; ')} (template ${row.name}: ${row.pattern})`);
    const date = calendarDate(this.opts.now?.() ?? new Date(), this.opts.timeZone);
    const used = pickTemplateFields(parsed, fields);
    let counterKey: string;
    try {
      counterKey = deriveCounterKey(row.name, row.resetScope, parsed, used, date);
      // Every sequence of the series prints in the same width, so one check covers all of them.
      formatNumber(parsed, used, date, 1);
    } catch (e) {
      throw badRequest(e instanceof TemplateError ? e.message : (e as Error).message);
    }
    return {
      ...entry,
      fields: used,
      date,
      counterKey,
      template: { id: row.id, name: row.name, version: row.version, maxValue: row.maxValue, period: resetPeriod(row.resetScope, date), parsed },
    };
  }
}

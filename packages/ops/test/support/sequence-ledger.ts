import { createHash } from 'node:crypto';
import { migrationEnvironment, serviceEnvironment, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import { createTestbed, startMariaDb, type MariaDbHandle, type Testbed } from '@numbering/devstack';
import { loadMigrationEnv, loadServiceEnv } from '../../../../services/numbering/src/config.js';
import { createTemplate, type TemplateInput } from '../../../../services/numbering/src/db/admin.js';
import { allocateBatch, TemplateChangedError, type Allocated, type BatchEntry, type EntryOutcome } from '../../../../services/numbering/src/db/ledger.js';
import { migrate } from '../../../../services/numbering/src/db/migrate.js';
import { createPool, inTransaction, type Pool, type Rows } from '../../../../services/numbering/src/db/pool.js';
import { transitionReservation } from '../../../../services/numbering/src/db/reservations.js';
import { findTemplateByName } from '../../../../services/numbering/src/db/templates.js';
import { deriveCounterKey, pickTemplateFields, resetPeriod } from '../../../../services/numbering/src/domain/counter-key.js';
import { requestHash } from '../../../../services/numbering/src/domain/idempotency.js';
import { calendarDate, parseTemplate, type CalendarDate, type FieldValues } from '../../../../services/numbering/src/domain/template.js';
import { contextFrom, type OpsIo } from '../../src/context.js';
import { main } from '../../src/main.js';

/**
 * A real MariaDB from the devstack harness, migrated by the service's own migration runner, and the
 * service's own ledger code (allocation transaction, reservations, admin) driven in-process on the
 * service's own pool: the ledger the ops commands work on is written exactly as the service writes it.
 * The only thing added is a chosen calendar date, so a test can allocate in "last year".
 */

export interface SequenceBed {
  testbed: Testbed;
  mariadb: MariaDbHandle;
  model: PlatformModel;
  secrets: PlatformSecrets;
  /** The service's app pool (SELECT, INSERT, UPDATE only), as the service uses it. */
  pool: Pool;
  stop(): Promise<void>;
}

export async function startSequenceBed(): Promise<SequenceBed> {
  const testbed = await createTestbed({ 'mariadb.innodbLogFileSize': '48M', 'mariadb.innodbBufferPoolSize': '128M' });
  let mariadb: MariaDbHandle | undefined;
  try {
    mariadb = await startMariaDb(testbed.model, testbed.secrets);
    await migrate(loadMigrationEnv(migrationEnvironment(testbed.model, testbed.secrets)));
  } catch (e) {
    await mariadb?.stop();
    testbed.dispose();
    throw e;
  }
  const db = mariadb;
  const pool = createPool(loadServiceEnv(serviceEnvironment(testbed.model, testbed.model.service.releases[0], testbed.secrets)));
  return {
    testbed,
    mariadb: db,
    model: testbed.model,
    secrets: testbed.secrets,
    pool,
    async stop() {
      await pool.end().catch(() => undefined);
      await db.stop();
      testbed.dispose();
    },
  };
}

export const SERVICE_ACTOR = 'service/stable/test';
let keys = 0;

export interface AllocateOptions {
  /** Calendar date of the allocation (the service uses now in NUMBERING_TIME_ZONE). */
  date?: CalendarDate;
  kind?: 'confirm' | 'reserve';
  ttlSeconds?: number;
  count?: number;
}

/**
 * Allocates like NumberingService.allocate (template -> counter key -> one allocation transaction),
 * including its retry when a template changed in flight. Returns one outcome per requested number.
 */
export async function allocate(pool: Pool, template: string, fields: FieldValues, opts: AllocateOptions = {}): Promise<EntryOutcome[]> {
  for (let attempt = 1; ; attempt++) {
    const row = await findTemplateByName(pool, template);
    if (!row) throw new Error(`no template ${template}`);
    const parsed = parseTemplate(row.pattern);
    const date = opts.date ?? calendarDate(new Date(), 'UTC');
    const used = pickTemplateFields(parsed, fields);
    const counterKey = deriveCounterKey(row.name, row.resetScope, parsed, used, date);
    const entries: BatchEntry[] = Array.from({ length: opts.count ?? 1 }, () => {
      if (opts.kind === 'reserve') return { kind: 'reserve', fields: used, date, ttlSeconds: opts.ttlSeconds ?? 300 };
      const key = `ops-test-${process.pid}-${++keys}`;
      return { kind: 'confirm', fields: used, date, idempotencyKey: key, requestHash: requestHash({ template, fields: used, key }) };
    });
    try {
      const result = await inTransaction(pool, (conn) =>
        allocateBatch(conn, {
          counterKey,
          template: { id: row.id, name: row.name, version: row.version, maxValue: row.maxValue, period: resetPeriod(row.resetScope, date), parsed },
          entries,
          actor: SERVICE_ACTOR,
          checkCollisions: false,
        }),
      );
      return result.outcomes;
    } catch (e) {
      if (e instanceof TemplateChangedError && attempt < 20) continue;
      throw e;
    }
  }
}

/** Allocates and insists every number was issued. */
export async function allocateOk(pool: Pool, template: string, fields: FieldValues, opts: AllocateOptions = {}): Promise<Allocated[]> {
  const outcomes = await allocate(pool, template, fields, opts);
  return outcomes.map((o) => {
    if (!o.ok) throw o.error;
    return o.value;
  });
}

export const confirmReservation = (pool: Pool, token: string) => transitionReservation(pool, token, 'confirm', SERVICE_ACTOR);
export const cancelReservation = (pool: Pool, token: string) => transitionReservation(pool, token, 'cancel', SERVICE_ACTOR, 'no longer needed');
export const addTemplate = (pool: Pool, name: string, input: TemplateInput) => createTemplate(pool, name, input, 'ops test template', 'admin@test');

export async function query(pool: Pool, sql: string, params: unknown[] = []): Promise<Rows> {
  const [rows] = await pool.query<Rows>(sql, params);
  return rows;
}

export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const rows = await query(pool, sql, params);
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
}

/** SHA-256 over the rows as JSON, in the given (ordered) query's order: equal sets of equal rows, equal digest. */
export async function checksum(pool: Pool, sql: string, params: unknown[] = []): Promise<{ rows: number; sha256: string }> {
  const rows = await query(pool, sql, params);
  const hash = createHash('sha256');
  for (const r of rows) hash.update(`${JSON.stringify(Object.values(r), (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v))}\n`);
  return { rows: rows.length, sha256: hash.digest('hex') };
}

export interface OpsRun {
  code: number;
  out: string[];
  err: string[];
  progress: string[];
  text: string;
}

/** `pnpm ops <argv>` with a context on the given model and secrets (the bed's MariaDB), recording what it prints. */
export async function runOps(bed: { model: PlatformModel; secrets: PlatformSecrets }, argv: string[], opts: { now?: Date } = {}): Promise<OpsRun> {
  const out: string[] = [];
  const err: string[] = [];
  const progress: string[] = [];
  const io: OpsIo = { out: (l) => out.push(l), err: (l) => err.push(l), confirm: async () => false, progress: (s, d) => progress.push(`${s}${d ? `: ${d}` : ''}`) };
  const code = await main(argv, io, {
    context: (o) => contextFrom({ model: bed.model, secrets: bed.secrets, backupDir: '/nonexistent', io: o.io, assumeYes: o.assumeYes, ...(opts.now ? { now: () => opts.now! } : {}) }),
  });
  return { code, out, err, progress, text: [...out, ...err].join('\n') };
}

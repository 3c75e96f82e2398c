import { hostname } from 'node:os';
import type mysql from 'mysql2/promise';
import { OpsError, type OpsContext } from './context.js';
import { connectMariaDb, type MariaDbAccount } from './mariadb.js';

/**
 * The numbering database as the sequence commands use it: sessions set up like the service's pool
 * (UTC, READ COMMITTED: the counter row lock is the only lock that matters), transactions that
 * retry a deadlock with a concurrent allocation, and audit rows in the service's format.
 */

export type Connection = mysql.Connection;
export type Rows = mysql.RowDataPacket[];
export type Result = mysql.ResultSetHeader;

/** Who the audit log names for changes made by these commands. */
export const OPS_ACTOR = `ops@${hostname()}`.slice(0, 64);

/**
 * Lock waits are bounded: a command waiting behind an allocation gives up after this long rather
 * than queueing indefinitely (the service's own requests wait LOCK_TIMEOUT_MS).
 */
export const LOCK_WAIT_SECONDS = 10;

export async function openNumberingDb(ctx: OpsContext, account: MariaDbAccount): Promise<Connection> {
  const conn = await connectMariaDb(ctx, account);
  // The service writes DATETIMEs in UTC and compares expires_at with NOW(3) in UTC: so do we.
  await conn.query(`SET SESSION time_zone = '+00:00', SESSION tx_isolation = 'READ-COMMITTED', SESSION innodb_lock_wait_timeout = ${LOCK_WAIT_SECONDS}`);
  return conn;
}

export async function withNumberingDb<T>(ctx: OpsContext, account: MariaDbAccount, work: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await openNumberingDb(ctx, account);
  try {
    return await work(conn);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

const ER_LOCK_WAIT_TIMEOUT = 1205;
const ER_LOCK_DEADLOCK = 1213;
const ER_NO_SUCH_TABLE = 1146;

export const sqlErrno = (e: unknown): number | undefined =>
  typeof e === 'object' && e !== null && 'errno' in e && typeof (e as { errno: unknown }).errno === 'number' ? (e as { errno: number }).errno : undefined;

/** Runs `work` in one transaction; rolls back on any error; a deadlock (a concurrent allocation won) is retried twice. */
export async function transaction<T>(conn: Connection, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await conn.query('START TRANSACTION');
    try {
      const result = await work();
      await conn.query('COMMIT');
      return result;
    } catch (e) {
      await conn.query('ROLLBACK').catch(() => undefined);
      if (sqlErrno(e) === ER_LOCK_DEADLOCK && attempt < 3) continue;
      if (sqlErrno(e) === ER_LOCK_WAIT_TIMEOUT) throw new OpsError(`a row stayed locked for more than ${LOCK_WAIT_SECONDS} s (the service is allocating from it); nothing was changed, run the command again`);
      throw e;
    }
  }
}

/** A missing table means the service's migrations have not been applied (or not this one). */
export function missingTable(e: unknown, table: string, migration: string): OpsError | undefined {
  if (sqlErrno(e) !== ER_NO_SUCH_TABLE || !(e as Error).message.includes(table)) return undefined;
  return new OpsError(`table ${table} does not exist: apply the numbering service's migrations (${migration}) first, e.g. \`pnpm --filter @numbering/service migrate\``);
}

export interface AuditRow {
  action: string;
  templateId?: number | null;
  counterKey?: string | null;
  number?: string | null;
  sequence?: number | null;
  reason: string;
  details?: Record<string, unknown> | null;
}

/** One multi-row INSERT inside the caller's transaction, like the service's insertAudit: a change and its audit rows commit together. */
export async function insertAudit(conn: Connection, rows: readonly AuditRow[], actor = OPS_ACTOR): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const values = rows.slice(i, i + 500).map((r) => [actor, r.action, r.templateId ?? null, r.counterKey ?? null, r.number ?? null, r.sequence ?? null, r.reason.slice(0, 500), r.details ? JSON.stringify(r.details) : null]);
    await conn.query('INSERT INTO audit_log (actor, action, template_id, counter_key, number, sequence, reason, details) VALUES ?', [values]);
  }
}

/** `Date` → `YYYY-MM-DD HH:MM:SS.mmm` in UTC, the form DATETIME(3) columns are compared with. */
export const sqlDateTime = (d: Date) => d.toISOString().slice(0, 23).replace('T', ' ');

/** A DATETIME(3) string read in a UTC session → `Date`. */
export const parseSqlDateTime = (s: string) => new Date(`${s.replace(' ', 'T')}Z`);

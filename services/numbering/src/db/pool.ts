import mysql from 'mysql2/promise';
import type { ServiceEnv } from '../config.js';

export type Pool = mysql.Pool;
export type Connection = mysql.PoolConnection;
export type Rows = mysql.RowDataPacket[];
export type Result = mysql.ResultSetHeader;

/**
 * The app's pool. Sessions run in UTC and READ COMMITTED (no gap locks: the counter row lock is the
 * only lock an allocation needs), and wait for a row lock no longer than the request may wait.
 */
export function createPool(env: ServiceEnv): Pool {
  const pool = mysql.createPool({
    host: env.DB_HOST,
    port: env.DB_PORT,
    user: env.DB_USER,
    password: env.DB_PASSWORD,
    database: env.DB_NAME,
    connectionLimit: env.DB_POOL_SIZE,
    // Requests beyond the pool wait in its queue; LOCK_TIMEOUT_MS bounds them at the allocator.
    queueLimit: 0,
    waitForConnections: true,
    connectTimeout: 3000,
    enableKeepAlive: true,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    maxIdle: env.DB_POOL_SIZE,
    idleTimeout: 60_000,
  });
  const lockWaitSeconds = Math.max(1, Math.ceil(env.LOCK_TIMEOUT_MS / 1000));
  pool.pool.on('connection', (conn) => {
    // Queued ahead of the connection's first real query; a failure surfaces on that query.
    conn.query(`SET SESSION time_zone = '+00:00', SESSION tx_isolation = 'READ-COMMITTED', SESSION innodb_lock_wait_timeout = ${lockWaitSeconds}`, () => {});
  });
  return pool;
}

export interface PoolStats {
  total: number;
  idle: number;
  inUse: number;
  waiting: number;
}

/** mysql2 keeps its counts in internal arrays; read them defensively (`numbering_db_pool_connections`). */
export function poolStats(pool: Pool, limit: number): PoolStats {
  const inner = pool.pool as unknown as { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } };
  const total = inner._allConnections?.length ?? 0;
  const idle = inner._freeConnections?.length ?? 0;
  return { total: Math.min(total, limit), idle, inUse: Math.max(0, total - idle), waiting: inner._connectionQueue?.length ?? 0 };
}

/** MariaDB error numbers the service reacts to. */
export const ER = {
  DUP_ENTRY: 1062,
  LOCK_WAIT_TIMEOUT: 1205,
  LOCK_DEADLOCK: 1213,
} as const;

export function sqlErrno(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && 'errno' in e && typeof (e as { errno: unknown }).errno === 'number' ? (e as { errno: number }).errno : undefined;
}

/** Which unique key a duplicate-entry error hit (`... for key 'uq_numbers_number'`). */
export function duplicateKeyName(e: unknown): string | undefined {
  if (sqlErrno(e) !== ER.DUP_ENTRY) return undefined;
  return /for key '(?:[^'.]*\.)?([^']+)'/.exec((e as Error).message)?.[1];
}

/** Connection-level failures (server down, killed, restarting): the request may be retried later. */
export function isConnectionError(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR'].includes(code) ||
    /closed state|Connection lost|connect ETIMEDOUT|Pool is closed/i.test((e as Error)?.message ?? '')
  );
}

/** Runs `work` in a transaction on a pooled connection; rolls back on any error. */
export async function inTransaction<T>(pool: Pool, work: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  let broken = false;
  try {
    await conn.query('START TRANSACTION');
    const result = await work(conn);
    await conn.query('COMMIT');
    return result;
  } catch (e) {
    broken = isConnectionError(e);
    if (!broken) await conn.query('ROLLBACK').catch(() => (broken = true));
    throw e;
  } finally {
    // A connection that failed mid-transaction is not trusted again.
    if (broken) conn.destroy();
    else conn.release();
  }
}

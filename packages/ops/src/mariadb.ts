import mysql from 'mysql2/promise';
import { MARIADB_USERS } from '@numbering/blueprint';
import { OpsError, type OpsContext } from './context.js';

/**
 * Connections to the numbering database as the least-privileged user a command needs:
 * `backup` (consistent reads), `migrator` (DDL and DML on the numbering schema: restore, archive,
 * maintenance), `app` (what the service itself may do).
 */
export type MariaDbAccount = 'backup' | 'migrator' | 'app';

export function mariaDbCredentials(ctx: OpsContext, account: MariaDbAccount): { user: string; password: string } {
  const c = ctx.model.mariadb.config;
  const user = account === 'app' ? c.appUser : MARIADB_USERS[account];
  return { user, password: ctx.secret(`mariadb.${account}`) };
}

export async function connectMariaDb(ctx: OpsContext, account: MariaDbAccount, opts: { multipleStatements?: boolean } = {}): Promise<mysql.Connection> {
  const m = ctx.model.mariadb;
  const { user, password } = mariaDbCredentials(ctx, account);
  try {
    return await mysql.createConnection({
      host: m.host,
      port: m.port,
      user,
      password,
      database: m.config.database,
      connectTimeout: 5000,
      // DATETIME(3) and BIGINT come back as strings: exact, and comparable across dump and restore.
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      multipleStatements: opts.multipleStatements ?? false,
    });
  } catch (e) {
    throw new OpsError(`cannot connect to MariaDB ${m.host}:${m.port} as ${user} (${ctx.description}): ${(e as Error).message}`);
  }
}

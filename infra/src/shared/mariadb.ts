import { dirname } from 'node:path/posix';
import type { PlatformModel } from '@numbering/blueprint';

/** Where the containers find the rendered files (same on both targets). */
export const MARIADB_PATHS = {
  /** Read after the image's own files (conf.d is included last by the official image's my.cnf). */
  cnf: '/etc/mysql/conf.d/zz-numbering.cnf',
  /** Run by mariadbd on every start (`--init-file`): the SQL is idempotent, so passwords and grants converge. */
  initSql: '/etc/mysql/numbering/init.sql',
  exporterCnf: '/etc/mysqld-exporter/my.cnf',
} as const;

/**
 * Directories inside the datadir volume that mariadbd writes to but does not create (the binary log
 * and the slow log). They must exist before the first start, which also initializes the datadir.
 * (The blueprint has no helper for this, unlike `nginxDirectories`.)
 */
export function mariaDbDirectories(model: PlatformModel): string[] {
  return [...new Set([dirname(model.mariadb.binlogBasename), model.mariadb.logDir])];
}

/** mariadbd's arguments after the image entrypoint (which initializes an empty datadir first). */
export const mariaDbServerArgs = () => ['mariadbd', `--init-file=${MARIADB_PATHS.initSql}`];

/**
 * The official image's own health check: `--connect` proves the server accepts connections,
 * `--innodb_initialized` that InnoDB finished recovery. It logs in as the `healthcheck` user the
 * entrypoint creates when it initializes the datadir, so no password appears in the check.
 */
export const MARIADB_HEALTHCHECK = ['healthcheck.sh', '--connect', '--innodb_initialized'];

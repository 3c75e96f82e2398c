import type { PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** The database-side name of each MariaDB user the platform creates (the app user's comes from config). */
export const MARIADB_USERS = { migrator: 'migrator', exporter: 'exporter', backup: 'backup' } as const;

function isContainerTarget(model: PlatformModel): boolean {
  return model.target !== 'local';
}

/**
 * Host part of every TCP user. With skip-name-resolve MariaDB matches client IPs only, so the devstack
 * (loopback) needs '127.0.0.1' ('localhost' would only match the socket); containers connect from
 * changing pod/container IPs.
 */
export function mariaDbUserHost(model: PlatformModel): string {
  return isContainerTarget(model) ? '%' : '127.0.0.1';
}

/**
 * The tuned numbering my.cnf ([client] + [mariadbd]). Every value is valid on MariaDB 10.11 (checked
 * with `mariadbd --help --verbose`, see the daemon test); MySQL 8 would reject the query cache lines.
 */
export function renderMariaDbCnf(model: PlatformModel): string {
  const m = model.mariadb;
  const c = m.config;
  // READ COMMITTED: the numbering service's correctness comes from row locks (SELECT ... FOR UPDATE /
  // UPDATE ... SET v = v + 1), not from snapshots; READ COMMITTED takes no gap/next-key locks, so
  // inserts into audit/reservation tables do not queue behind each other and the lock-wait alert measures
  // real contention on the counter row. It requires row-based binary logging (InnoDB refuses
  // statement-based binlogging under READ COMMITTED), hence the check.
  if (c.binlogFormat === 'STATEMENT') {
    throw new Error('mariadb.binlogFormat: STATEMENT cannot be used with transaction_isolation=READ-COMMITTED (InnoDB refuses to binlog such statements); use ROW or MIXED');
  }
  const log = (file: string) => `${m.logDir}/${file}`;
  const lines = [
    `# ${m.name}: rendered by @numbering/blueprint from the platform model (target ${model.target}); do not edit.`,
    '[client]',
    `port=${m.port}`,
    `socket=${m.socket}`,
    'default-character-set=utf8mb4',
    '',
    '[mariadbd]',
    // Only when started as root (devstack): mariadbd refuses root and drops to this user itself.
    ...(m.runAsUser ? [`user=${m.runAsUser}`] : []),
    `datadir=${m.datadir}`,
    `socket=${m.socket}`,
    `pid-file=${m.pidFile}`,
    `port=${m.port}`,
    `bind-address=${isContainerTarget(model) ? '0.0.0.0' : '127.0.0.1'}`,
    // No DNS on connect (slow and a dependency); users are therefore defined by IP (see mariaDbUserHost).
    'skip-name-resolve',
    // Containers: no log-error, so the error log goes to stderr where the runtime collects it.
    ...(isContainerTarget(model) ? [] : [`log-error=${log('error.log')}`]),
    'server_id=1',
    'character-set-server=utf8mb4',
    'collation-server=utf8mb4_unicode_ci',
    'transaction_isolation=READ-COMMITTED',
    '',
    '# --- connections ---',
    `max_connections=${c.maxConnections}`,
    `thread_cache_size=${c.threadCacheSize}`,
    '# the query cache serialises on one mutex and is invalidated by every counter update',
    'query_cache_type=0',
    'query_cache_size=0',
    '',
    '# --- InnoDB ---',
    `innodb_buffer_pool_size=${c.innodbBufferPoolSize}`,
    `innodb_log_file_size=${c.innodbLogFileSize}`,
    `innodb_flush_log_at_trx_commit=${c.innodbFlushLogAtTrxCommit}`,
    `innodb_lock_wait_timeout=${c.innodbLockWaitTimeout}`,
    '',
    '# --- lock-wait visibility (performance_schema lock instruments feed the lock dashboards) ---',
    'performance_schema=ON',
    "performance_schema_instrument='wait/lock/%=ON'",
    '',
    '# --- binary log (point-in-time recovery) ---',
    `log_bin=${m.binlogBasename}`,
    `binlog_format=${c.binlogFormat}`,
    `expire_logs_days=${c.expireLogsDays}`,
    `max_binlog_size=${c.maxBinlogSize}`,
    '',
    '# --- slow query log ---',
    'slow_query_log=1',
    `slow_query_log_file=${log('slow.log')}`,
    `long_query_time=${c.longQueryTime}`,
    '',
  ];
  return lines.join('\n');
}

/**
 * A MariaDB string literal. Backslash and quote are both escaped, and the init SQL turns
 * NO_BACKSLASH_ESCAPES off for its session, so the literal means the same under any server sql_mode.
 */
export function sqlString(value: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = value.replace(/[\0\n\r\x1a\\']/g, (ch) => {
    switch (ch) {
      case '\0':
        return '\\0';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\x1a':
        return '\\Z';
      case '\\':
        return '\\\\';
      default:
        return "''";
    }
  });
  return `'${escaped}'`;
}

/** A schema or user name from config: the config schema already restricts them to [a-z0-9_]; re-check, because they are spliced into SQL. */
function sqlIdentifier(key: string, name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,63}$/.test(name)) throw new Error(`${key}: ${JSON.stringify(name)} is not a plain lower-case identifier`);
  return name;
}

/** The staging database `ops restore mariadb` loads a dump into, and the one it keeps the replaced tables in. */
export function restoreDatabaseNames(database: string): [staging: string, previous: string] {
  return [`${database}_restore`, `${database}_previous`];
}

/**
 * Idempotent init SQL: database, users (numbering: SELECT, INSERT, UPDATE only), grants. A rerun
 * converges: ALTER USER resets each password and REVOKE ALL drops any privilege granted by hand since.
 */
export function renderMariaDbInitSql(model: PlatformModel, secrets: PlatformSecrets): string {
  const c = model.mariadb.config;
  const db = sqlIdentifier('mariadb.database', c.database);
  const host = sqlString(mariaDbUserHost(model));
  const s = secrets.mariadb;
  const users: { name: string; password: string; grants: string[]; options?: string }[] = [
    { name: sqlIdentifier('mariadb.appUser', c.appUser), password: s.app, grants: [`SELECT, INSERT, UPDATE ON \`${db}\`.*`] },
    {
      name: MARIADB_USERS.migrator,
      password: s.migrator,
      // `ops restore mariadb` loads into <db>_restore and swaps with one RENAME TABLE, keeping the replaced
      // tables in <db>_previous (`\_`: a bare `_` in a grant's database name is a wildcard).
      grants: [`ALL PRIVILEGES ON \`${db}\`.*`, ...restoreDatabaseNames(db).map((name) => `ALL PRIVILEGES ON \`${name.replace(/_/g, '\\_')}\`.*`)],
    },
    {
      name: MARIADB_USERS.exporter,
      password: s.exporter,
      // MariaDB 10.5+ split REPLICATION CLIENT into BINLOG MONITOR and SLAVE MONITOR.
      grants: ['PROCESS, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.*'],
      options: 'WITH MAX_USER_CONNECTIONS 3',
    },
    // mariadb-dump --single-transaction --master-data: RELOAD for FLUSH TABLES WITH READ LOCK, BINLOG MONITOR for the position.
    { name: MARIADB_USERS.backup, password: s.backup, grants: ['SELECT, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER, RELOAD, BINLOG MONITOR ON *.*'] },
  ];
  const names = users.map((u) => u.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new Error(`mariadb.appUser: ${JSON.stringify(duplicate)} collides with a platform user (${Object.values(MARIADB_USERS).join(', ')})`);

  const lines = [
    `-- ${model.mariadb.name}: rendered by @numbering/blueprint; idempotent, safe to run on every start.`,
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');",
    `CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
  ];
  for (const u of users) {
    if (u.password.length === 0) throw new Error(`secrets.mariadb: password of ${u.name} must not be empty`);
    const account = `'${u.name}'@${host}`;
    const options = u.options ? ` ${u.options}` : '';
    lines.push(
      '',
      `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${sqlString(u.password)}${options};`,
      `ALTER USER ${account} IDENTIFIED BY ${sqlString(u.password)}${options};`,
      `REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${account};`,
      ...u.grants.map((g) => `GRANT ${g} TO ${account};`),
    );
  }
  lines.push('');
  return lines.join('\n');
}

/**
 * my.cnf for mysqld-exporter (--config.my-cnf). The exporter parses it with go-ini while the MariaDB
 * client tools use their own option-file parser; a double-quoted value without quotes, backslashes or
 * whitespace inside reads the same in both (and keeps `#`/`;` from starting a comment).
 */
export function renderMysqldExporterCnf(model: PlatformModel, secrets: PlatformSecrets): string {
  const password = secrets.mariadb.exporter;
  // eslint-disable-next-line no-control-regex
  const bad = /["'\\\s\u0000-\u001f\u007f]/.exec(password);
  if (password.length === 0 || bad) {
    throw new Error(`secrets.mariadb.exporter: ${bad ? `contains ${JSON.stringify(bad[0])}, which` : 'an empty password'} cannot be written to the exporter's option file`);
  }
  return ['[client]', `user=${MARIADB_USERS.exporter}`, `password="${password}"`, `host=${model.mariadb.host}`, `port=${model.mariadb.port}`, ''].join('\n');
}

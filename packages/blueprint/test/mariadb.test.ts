import { describe, expect, it } from 'vitest';
import {
  buildPlatform,
  defaultPlatformConfig,
  exampleSecrets,
  mariaDbUserHost,
  renderMariaDbCnf,
  renderMariaDbInitSql,
  renderMysqldExporterCnf,
  sqlString,
  type PlatformSecrets,
} from '../src/index.js';

const local = buildPlatform(defaultPlatformConfig('local', { 'mariadb.maxConnections': 321, 'mariadb.innodbBufferPoolSize': '1G', 'mariadb.longQueryTime': 0.5 }), { workdir: '/srv/ds' });
const k8s = buildPlatform(defaultPlatformConfig('kubernetes'));
const secrets = exampleSecrets();
const withMariaDb = (patch: Partial<PlatformSecrets['mariadb']>): PlatformSecrets => ({ ...secrets, mariadb: { ...secrets.mariadb, ...patch } });

/** Options of one [group] as `key -> value` (flags map to ''); fails on a key set twice. */
function group(cnf: string, name: string): Map<string, string> {
  const map = new Map<string, string>();
  let current = '';
  for (const line of cnf.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === name && line.trim() && !line.startsWith('#')) {
      const [key, ...value] = line.split('=');
      expect(map.has(key!), `${key} set twice in [${name}]`).toBe(false);
      map.set(key!, value.join('='));
    }
  }
  return map;
}

describe('renderMariaDbCnf', () => {
  const server = group(renderMariaDbCnf(local), 'mariadbd');

  it('takes the tuned numbering settings from the config', () => {
    expect(server.get('max_connections')).toBe('321');
    expect(server.get('thread_cache_size')).toBe('50');
    expect(server.get('query_cache_type')).toBe('0');
    expect(server.get('query_cache_size')).toBe('0');
    expect(server.get('innodb_buffer_pool_size')).toBe('1G');
    expect(server.get('innodb_log_file_size')).toBe('512M');
    expect(server.get('innodb_flush_log_at_trx_commit')).toBe('1');
    expect(server.get('innodb_lock_wait_timeout')).toBe('50');
    expect(server.get('performance_schema')).toBe('ON');
    expect(server.get('performance_schema_instrument')).toBe("'wait/lock/%=ON'");
    expect(server.get('binlog_format')).toBe('ROW');
    expect(server.get('expire_logs_days')).toBe('7');
    expect(server.get('max_binlog_size')).toBe('100M');
    expect(server.get('slow_query_log')).toBe('1');
    expect(server.get('long_query_time')).toBe('0.5');
    expect(server.get('transaction_isolation')).toBe('READ-COMMITTED');
    expect(server.get('character-set-server')).toBe('utf8mb4');
  });

  it('places every file where the devstack model says, on loopback, as the mysql user', () => {
    expect(server.get('datadir')).toBe('/srv/ds/mariadb/data');
    expect(server.get('socket')).toBe('/srv/ds/mariadb/mariadb.sock');
    expect(server.get('pid-file')).toBe('/srv/ds/mariadb/mariadb.pid');
    expect(server.get('log_bin')).toBe('/srv/ds/mariadb/binlog/mariadb-bin');
    expect(server.get('log-error')).toBe('/srv/ds/mariadb/log/error.log');
    expect(server.get('slow_query_log_file')).toBe('/srv/ds/mariadb/log/slow.log');
    expect(server.get('port')).toBe(String(local.mariadb.port));
    expect(server.get('bind-address')).toBe('127.0.0.1');
    expect(server.get('user')).toBe('mysql');
    expect(server.has('skip-name-resolve')).toBe(true);
  });

  it('gives clients the same port and socket', () => {
    const client = group(renderMariaDbCnf(local), 'client');
    expect(client.get('port')).toBe(String(local.mariadb.port));
    expect(client.get('socket')).toBe(local.mariadb.socket);
  });

  it('in containers: all interfaces, error log to stderr, no user switch', () => {
    const c = group(renderMariaDbCnf(k8s), 'mariadbd');
    expect(c.get('bind-address')).toBe('0.0.0.0');
    expect(c.has('log-error')).toBe(false);
    expect(c.has('user')).toBe(false);
    expect(c.get('datadir')).toBe('/var/lib/mysql');
    expect(c.get('port')).toBe('3306');
  });

  it('refuses statement-based binlogging, which READ COMMITTED cannot use, naming the key', () => {
    const model = buildPlatform(defaultPlatformConfig('local', { 'mariadb.binlogFormat': 'STATEMENT' }), { workdir: '/w' });
    expect(() => renderMariaDbCnf(model)).toThrow(/mariadb\.binlogFormat/);
  });
});

describe('sqlString', () => {
  it.each([
    ['plain', "'plain'"],
    ["it's", "'it''s'"],
    ['back\\slash', "'back\\\\slash'"],
    ["\\'", "'\\\\'''"],
    ['nl\nnul\0', "'nl\\nnul\\0'"],
  ])('%j -> %s', (input, literal) => {
    expect(sqlString(input)).toBe(literal);
  });
});

describe('renderMariaDbInitSql', () => {
  const sql = renderMariaDbInitSql(local, secrets);
  const statements = sql.split('\n').filter((l) => l && !l.startsWith('--'));

  it('creates the database if missing', () => {
    expect(sql).toContain('CREATE DATABASE IF NOT EXISTS `numbering`');
  });

  it('grants the app user SELECT, INSERT, UPDATE on its schema and nothing else', () => {
    const grants = statements.filter((s) => s.startsWith('GRANT') && s.includes("'numbering'@"));
    expect(grants).toEqual(["GRANT SELECT, INSERT, UPDATE ON `numbering`.* TO 'numbering'@'127.0.0.1';"]);
    expect(statements).toContain("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'numbering'@'127.0.0.1';");
  });

  it('creates migrator, exporter (3 connections max) and backup users', () => {
    expect(statements).toContain("GRANT ALL PRIVILEGES ON `numbering`.* TO 'migrator'@'127.0.0.1';");
    // ops restore mariadb: staging and previous-tables databases, `_` escaped so it is not a wildcard.
    expect(statements).toContain("GRANT ALL PRIVILEGES ON `numbering\\_restore`.* TO 'migrator'@'127.0.0.1';");
    expect(statements).toContain("GRANT ALL PRIVILEGES ON `numbering\\_previous`.* TO 'migrator'@'127.0.0.1';");
    expect(statements).toContain("GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO 'exporter'@'127.0.0.1';");
    expect(sql).toMatch(/CREATE USER IF NOT EXISTS 'exporter'@'127.0.0.1' IDENTIFIED BY '[^']+' WITH MAX_USER_CONNECTIONS 3;/);
    expect(statements).toContain("GRANT SELECT, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER, RELOAD, BINLOG MONITOR ON *.* TO 'backup'@'127.0.0.1';");
  });

  it('is idempotent: IF NOT EXISTS, then ALTER USER so a rerun resets every password', () => {
    for (const user of ['numbering', 'migrator', 'exporter', 'backup']) {
      expect(statements.filter((s) => s.startsWith(`CREATE USER IF NOT EXISTS '${user}'@`))).toHaveLength(1);
      expect(statements.filter((s) => s.startsWith(`ALTER USER '${user}'@`))).toHaveLength(1);
    }
    expect(statements.filter((s) => /^CREATE (USER|DATABASE) /.test(s) && !s.includes('IF NOT EXISTS'))).toEqual([]);
  });

  it('uses the configured schema and app user names', () => {
    const model = buildPlatform(defaultPlatformConfig('local', { 'mariadb.database': 'docs', 'mariadb.appUser': 'docnum' }), { workdir: '/w' });
    expect(renderMariaDbInitSql(model, secrets)).toContain("GRANT SELECT, INSERT, UPDATE ON `docs`.* TO 'docnum'@'127.0.0.1';");
  });

  it("uses host '%' in containers", () => {
    expect(mariaDbUserHost(k8s)).toBe('%');
    expect(renderMariaDbInitSql(k8s, secrets)).toContain("TO 'numbering'@'%';");
  });

  it('escapes a quote and a backslash in a password', () => {
    expect(renderMariaDbInitSql(local, withMariaDb({ app: "o'hara\\x" }))).toContain("IDENTIFIED BY 'o''hara\\\\x'");
  });

  it('refuses an app user that collides with a platform user', () => {
    const model = buildPlatform(defaultPlatformConfig('local', { 'mariadb.appUser': 'backup' }), { workdir: '/w' });
    expect(() => renderMariaDbInitSql(model, secrets)).toThrow(/mariadb\.appUser/);
  });
});

describe('renderMysqldExporterCnf', () => {
  it('connects as exporter to the MariaDB endpoint of the model', () => {
    const c = group(renderMysqldExporterCnf(local, secrets), 'client');
    expect(c.get('user')).toBe('exporter');
    expect(c.get('password')).toBe(`"${secrets.mariadb.exporter}"`);
    expect(c.get('host')).toBe('127.0.0.1');
    expect(c.get('port')).toBe(String(local.mariadb.port));
    expect(group(renderMysqldExporterCnf(k8s, secrets), 'client').get('host')).toBe('mariadb-0.mariadb.numbering.svc.cluster.local');
  });

  it.each([['pw"x'], ["pw'x"], ['pw\\x'], ['pw x'], ['pw\nx'], ['']])('refuses the password %j, naming the secret', (pw) => {
    expect(() => renderMysqldExporterCnf(local, withMariaDb({ exporter: pw }))).toThrow(/secrets\.mariadb\.exporter/);
  });
});

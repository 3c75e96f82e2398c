import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The devstack depends on the blueprint, so the blueprint's tests reach its helpers by path (same source code).
import { startMariaDb, type MariaDbHandle } from '../../devstack/src/daemons/mariadb.js';
import { run, startDaemon, waitFor, type DaemonProcess } from '../../devstack/src/process.js';
import { createTestbed, type Testbed } from '../../devstack/src/testbed.js';
import { renderMariaDbCnf, renderMariaDbInitSql, renderMysqldExporterCnf, type PlatformSecrets } from '../src/index.js';

/**
 * The rendered my.cnf checked by mariadbd 10.11 itself (`--help --verbose` parses every option exactly
 * as a start would, without touching a datadir), and the init SQL applied to a real server.
 */

/** Small InnoDB files keep install-db fast; everything else is the production default. */
const SMALL = { 'mariadb.innodbLogFileSize': '48M', 'mariadb.innodbBufferPoolSize': '64M' };

interface CnfCheck {
  code: number;
  errors: string[];
  /** The effective values: the variables table at the end of `--help --verbose`. */
  values: Map<string, string>;
}

/** Lets mariadbd parse `cnf`. Bad InnoDB values only log `[ERROR]` and exit 0, so both are checked. */
async function checkCnf(dir: string, cnf: string): Promise<CnfCheck> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'check.cnf');
  writeFileSync(file, cnf);
  const r = await run('mariadbd', [`--defaults-file=${file}`, '--help', '--verbose'], { timeoutMs: 60_000 });
  const values = new Map<string, string>();
  const table = r.stdout.split(/^-{20,} -+$/m)[1] ?? '';
  for (const line of table.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m) values.set(m[1]!, m[2]!.trim());
  }
  const errors = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('[ERROR]'));
  return { code: r.code, errors, values };
}

const valid = (c: CnfCheck) => c.code === 0 && c.errors.length === 0 && c.values.size > 0;

/** `1G`/`48M` -> bytes, as mariadbd reports sizes. */
function bytes(size: string): string {
  const m = /^(\d+)([KMG]?)$/.exec(size)!;
  return String(Number(m[1]) * 1024 ** ' KMG'.indexOf(m[2] || ' '));
}

describe('rendered my.cnf, parsed by mariadbd --help --verbose', () => {
  let bed: Testbed;
  beforeAll(async () => {
    bed = await createTestbed(SMALL);
  });
  afterAll(() => bed?.dispose());

  it('is accepted without any [ERROR] and yields the configured values', async () => {
    const check = await checkCnf(join(bed.workdir, 'check'), renderMariaDbCnf(bed.model));
    expect(check.errors).toEqual([]);
    expect(check.code).toBe(0);
    const m = bed.model.mariadb;
    const c = m.config;
    const expected: Record<string, string> = {
      'max-connections': String(c.maxConnections),
      'thread-cache-size': String(c.threadCacheSize),
      'query-cache-type': 'OFF',
      'query-cache-size': '0',
      'innodb-buffer-pool-size': bytes(c.innodbBufferPoolSize),
      'innodb-log-file-size': bytes(c.innodbLogFileSize),
      'innodb-flush-log-at-trx-commit': String(c.innodbFlushLogAtTrxCommit),
      'innodb-lock-wait-timeout': String(c.innodbLockWaitTimeout),
      'performance-schema': 'TRUE',
      'performance-schema-instrument': 'wait/lock/%=ON',
      'log-bin': m.binlogBasename,
      'binlog-format': c.binlogFormat,
      'expire-logs-days': String(c.expireLogsDays),
      'max-binlog-size': bytes(c.maxBinlogSize),
      'slow-query-log': 'TRUE',
      'slow-query-log-file': `${m.logDir}/slow.log`,
      'long-query-time': String(c.longQueryTime),
      'transaction-isolation': 'READ-COMMITTED',
      'character-set-server': 'utf8mb4',
      'collation-server': 'utf8mb4_unicode_ci',
      'skip-name-resolve': 'TRUE',
      'bind-address': '127.0.0.1',
      port: String(m.port),
      socket: m.socket,
      datadir: `${m.datadir}/`,
      'pid-file': m.pidFile,
      'log-error': `${m.logDir}/error.log`,
      'server-id': '1',
    };
    expect(Object.fromEntries(Object.keys(expected).map((k) => [k, check.values.get(k)]))).toEqual(expected);
    // Shipped defaults, not the small test sizes: max_connections 200 as in the ops spec.
    expect(check.values.get('max-connections')).toBe('200');
  });

  it('detects an unknown directive (the harness can fail)', async () => {
    const check = await checkCnf(join(bed.workdir, 'bogus'), `${renderMariaDbCnf(bed.model)}innodb_dedicated_server=ON\n`);
    expect(valid(check)).toBe(false);
    expect(check.errors.join('\n')).toMatch(/unknown variable 'innodb_dedicated_server=ON'/);
  });

  it('detects a bad InnoDB value although mariadbd exits 0', async () => {
    const check = await checkCnf(join(bed.workdir, 'badsize'), renderMariaDbCnf(bed.model).replace(/^innodb_buffer_pool_size=.*$/m, 'innodb_buffer_pool_size=64X'));
    expect(check.code).toBe(0);
    expect(valid(check)).toBe(false);
    expect(check.errors.join('\n')).toMatch(/Parsing options for plugin 'InnoDB' failed/);
  });

  it('detects a bad server value', async () => {
    const check = await checkCnf(join(bed.workdir, 'badvalue'), renderMariaDbCnf(bed.model).replace(/^long_query_time=.*$/m, 'long_query_time=abc'));
    expect(valid(check)).toBe(false);
  });
});

describe('init SQL on a real mariadbd', () => {
  let bed: Testbed;
  let db: MariaDbHandle;
  const daemons: DaemonProcess[] = [];
  // A quote, a double quote and a backslash: the literal must survive SQL escaping.
  const appPassword = `it's "q" \\ pw`;

  /** One statement as `user` over TCP (the way the service connects); stdout+stderr and the exit code. */
  async function as(user: string, password: string, statement: string): Promise<{ code: number; out: string }> {
    const m = bed.model.mariadb;
    const r = await run('mariadb', ['--no-defaults', '--protocol=tcp', '-h', m.host, '-P', String(m.port), '-u', user, '--batch', '--skip-column-names', m.config.database, '-e', statement], {
      env: { MYSQL_PWD: password },
      timeoutMs: 30_000,
    });
    return { code: r.code, out: (r.stdout + r.stderr).trim() };
  }
  const app = (statement: string) => as(bed.model.mariadb.config.appUser, bed.secrets.mariadb.app, statement);

  beforeAll(async () => {
    bed = await createTestbed(SMALL);
    bed.secrets.mariadb.app = appPassword;
    db = await startMariaDb(bed.model, bed.secrets);
    const migrate = await as('migrator', bed.secrets.mariadb.migrator, 'CREATE TABLE counters (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB; INSERT INTO counters VALUES (1, 0);');
    expect(migrate, 'migrator creates the schema').toEqual({ code: 0, out: '' });
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await db?.stop();
    bed?.dispose();
  });

  it('runs with the rendered values', async () => {
    const vars = await db.sql("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_connections', 'tx_isolation', 'log_bin', 'binlog_format', 'innodb_flush_log_at_trx_commit')");
    expect(vars).toContain('max_connections\t200');
    expect(vars).toContain('tx_isolation\tREAD-COMMITTED');
    expect(vars).toContain('log_bin\tON');
    expect(vars).toContain('binlog_format\tROW');
    expect(vars).toContain('innodb_flush_log_at_trx_commit\t1');
  });

  it('lets the app user (password with quote and backslash) SELECT, INSERT and UPDATE', async () => {
    expect(await app('UPDATE counters SET v = v + 1 WHERE id = 1')).toEqual({ code: 0, out: '' });
    expect(await app('INSERT INTO counters VALUES (2, 10)')).toEqual({ code: 0, out: '' });
    expect(await app('SELECT v FROM counters WHERE id = 1')).toEqual({ code: 0, out: '1' });
  });

  it.each([
    ['DELETE FROM counters WHERE id = 2', /ERROR 1142 .*DELETE command denied/],
    ['DROP TABLE counters', /ERROR 1142 .*DROP command denied/],
    ['TRUNCATE TABLE counters', /ERROR 1142/],
    ['CREATE TABLE evil (id INT)', /ERROR 1142 .*CREATE command denied/],
    ['ALTER TABLE counters ADD COLUMN x INT', /ERROR 1142 .*ALTER command denied/],
    ['SELECT User FROM mysql.user', /ERROR 1142 .*SELECT command denied/],
  ])('denies the app user %s', async (statement, error) => {
    const r = await app(statement);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(error);
  });

  it('gives exporter and backup their grants', async () => {
    const exporter = await as('exporter', bed.secrets.mariadb.exporter, "SHOW GLOBAL STATUS LIKE 'Uptime'");
    expect(exporter.out).toMatch(/^Uptime\t\d+$/);
    expect(await db.sql("SELECT max_user_connections FROM mysql.user WHERE User = 'exporter'")).toBe('3\n');
    expect((await as('exporter', bed.secrets.mariadb.exporter, 'UPDATE counters SET v = 0')).out).toMatch(/ERROR 1142/);
    expect((await as('backup', bed.secrets.mariadb.backup, 'SHOW MASTER STATUS')).out).toMatch(/mariadb-bin\.\d+/);
  });

  it('converges on a rerun: new passwords apply, hand-granted extras are revoked', async () => {
    const app = bed.model.mariadb.config.appUser;
    await db.sql(`GRANT DELETE ON \`${bed.model.mariadb.config.database}\`.* TO '${app}'@'127.0.0.1'`);
    const rotated: PlatformSecrets = { ...bed.secrets, mariadb: { ...bed.secrets.mariadb, app: "rotated'pw" } };
    await db.sql(renderMariaDbInitSql(bed.model, rotated));
    await db.sql(renderMariaDbInitSql(bed.model, rotated));
    expect((await as(app, appPassword, 'SELECT 1')).out).toMatch(/ERROR 1045/);
    expect(await as(app, "rotated'pw", 'SELECT 1')).toEqual({ code: 0, out: '1' });
    expect((await as(app, "rotated'pw", 'DELETE FROM counters WHERE id = 2')).out).toMatch(/ERROR 1142/);
    await db.sql(renderMariaDbInitSql(bed.model, bed.secrets));
  });

  it('lets prometheus-mysqld-exporter scrape with the rendered exporter cnf', async () => {
    const { model, secrets } = bed;
    const cnf = join(bed.workdir, 'mysqld-exporter.cnf');
    writeFileSync(cnf, renderMysqldExporterCnf(model, secrets), { mode: 0o600 });
    const exporter = startDaemon({
      name: 'mysqld-exporter',
      command: 'prometheus-mysqld-exporter',
      args: [`--config.my-cnf=${cnf}`, `--web.listen-address=${model.mariadb.exporter.host}:${model.mariadb.exporter.port}`],
      logFile: join(bed.workdir, 'mysqld-exporter.out'),
    });
    daemons.push(exporter);
    let metrics = '';
    await waitFor(
      'mysqld-exporter metrics',
      async () => {
        const res = await fetch(`http://${model.mariadb.exporter.host}:${model.mariadb.exporter.port}/metrics`);
        metrics = await res.text();
        return res.ok && /^mysql_up 1$/m.test(metrics);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(metrics).toMatch(/^mysql_global_variables_max_connections 200$/m);
    await exporter.stop();
  });
});

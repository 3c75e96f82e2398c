import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
// The devstack depends on the blueprint, so the blueprint's tests reach its helpers by path (same source code).
import { startDaemon, waitFor, type DaemonProcess } from '../../devstack/src/process.js';
import { createTestbed, type Testbed } from '../../devstack/src/testbed.js';
import { buildPlatform, defaultPlatformConfig, exampleSecrets, readOnlyDatabase, renderPgbouncerIni, renderPgbouncerUserlist, type PlatformSecrets } from '../src/index.js';

/**
 * PgBouncer 1.18 has no check mode, so the rendered pgbouncer.ini and userlist.txt are run for real
 * (as postgres: PgBouncer refuses root) and asked through the admin console, with SCRAM against the
 * userlist, what it loaded. A broken directive must make it refuse to start.
 */

let bed: Testbed;
let dir: string;
let owner: { uid: number; gid: number };
const secrets: PlatformSecrets = exampleSecrets();
let running: DaemonProcess | undefined;


const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).stdout.trim());

function writeOwned(file: string, text: string) {
  mkdirSync(dirname(file), { recursive: true });
  chownSync(dirname(file), owner.uid, owner.gid);
  writeFileSync(file, text, { mode: 0o600 });
  chownSync(file, owner.uid, owner.gid);
}

function start(ini: string, name: string): DaemonProcess {
  const file = join(dir, `${name}.ini`);
  writeOwned(file, ini);
  running = startDaemon({ name: `pgbouncer-${name}`, command: 'pgbouncer', args: [file], logFile: join(dir, `${name}.out`), user: 'postgres', cwd: dir });
  return running;
}

/** psql against the admin console; PgBouncer speaks only the simple query protocol there. */
function admin(port: number, sql: string, password = secrets.postgres.superuser) {
  const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'pgbouncer', '-At', '-F', '|', '-c', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '2' },
    timeout: 10_000,
  });
  return { code: r.status ?? 1, rows: r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|')), error: r.stderr };
}

beforeAll(async () => {
  bed = await createTestbed();
  owner = { uid: id('-u'), gid: id('-g') };
  dir = dirname(bed.model.postgres.pgbouncer.authFile);
  writeOwned(bed.model.postgres.pgbouncer.authFile, renderPgbouncerUserlist(bed.model, secrets));
});

afterEach(async () => {
  await running?.stop('SIGTERM', 5000);
  running = undefined;
});

describe('pgbouncer with the rendered pgbouncer.ini and userlist.txt', () => {
  it('starts, authenticates the admin with SCRAM and routes <db> / <db>_ro to HAProxy primary / replicas', async () => {
    const m = bed.model;
    const port = m.postgres.pgbouncer.port;
    const proc = start(renderPgbouncerIni(m), 'local');
    await waitFor('pgbouncer admin console', () => {
      if (!proc.alive()) return true;
      return admin(port, 'SHOW VERSION').code === 0;
    }, { timeoutMs: 15_000, logFile: proc.logFile });
    expect(proc.alive()).toBe(true);

    const dbs = new Map(admin(port, 'SHOW DATABASES').rows.map((r) => [r[0], r]));
    const db = m.postgres.config.database;
    // columns: name, host, port, database, ...
    expect(dbs.get(db)?.slice(1, 4)).toEqual(['127.0.0.1', String(m.postgres.haproxy.primaryPort), db]);
    expect(dbs.get(readOnlyDatabase(db))?.slice(1, 4)).toEqual(['127.0.0.1', String(m.postgres.haproxy.replicaPort), db]);

    const config = new Map(admin(port, 'SHOW CONFIG').rows.map((r) => [r[0], r[1]]));
    expect(config.get('server_login_retry')).toBe('1');
    expect(config.get('auth_type')).toBe('scram-sha-256');
    expect(config.get('pool_mode')).toBe(m.postgres.config.pgbouncerPoolMode);
    expect(config.get('default_pool_size')).toBe(String(m.postgres.config.pgbouncerDefaultPoolSize));
    expect(config.get('max_client_conn')).toBe(String(m.postgres.config.pgbouncerMaxClientConn));
    expect(config.get('listen_addr')).toBe('127.0.0.1');
    expect(readFileSync(m.postgres.pgbouncer.logfile, 'utf8')).toContain(`listening on 127.0.0.1:${port}`);

    const wrong = admin(port, 'SHOW VERSION', 'not-the-password');
    expect(wrong.code).not.toBe(0);
    expect(wrong.error).toMatch(/password authentication failed|SASL authentication failed/);
  });

  it('starts with the container variant (stderr logging, no pidfile)', async () => {
    const m = bed.model;
    const container = renderPgbouncerIni(buildPlatform(defaultPlatformConfig('docker')))
      // The container listens on 0.0.0.0:6432 with its userlist under /etc: keep the directives, move the socket.
      .replace(/^listen_addr = .*$/m, 'listen_addr = 127.0.0.1')
      .replace(/^listen_port = .*$/m, `listen_port = ${m.postgres.pgbouncer.port}`)
      .replace(/^auth_file = .*$/m, `auth_file = ${m.postgres.pgbouncer.authFile}`)
      .concat('unix_socket_dir =\n');
    const proc = start(container, 'container');
    await waitFor('pgbouncer admin console', () => !proc.alive() || admin(m.postgres.pgbouncer.port, 'SHOW VERSION').code === 0, { timeoutMs: 15_000, logFile: proc.logFile });
    expect(proc.alive()).toBe(true);
    expect(readFileSync(proc.logFile, 'utf8')).toContain('listening on 127.0.0.1');
  });

  it.each([
    ['an invalid pool_mode', (s: string) => s.replace(/^pool_mode = .*$/m, 'pool_mode = bogus'), /invalid value "bogus" for parameter pool_mode/],
    ['a misspelt directive', (s: string) => s.replace('server_login_retry', 'server_login_retryy'), /unknown parameter: pgbouncer\/server_login_retryy/],
    ['an unknown auth_type', (s: string) => s.replace(/^auth_type = .*$/m, 'auth_type = scram-sha-512'), /invalid value "scram-sha-512" for parameter auth_type/],
  ])('refuses to start with %s', async (_what, mutate, message) => {
    const original = renderPgbouncerIni(bed.model);
    const mutated = mutate(original);
    expect(mutated).not.toBe(original);
    const proc = start(mutated, 'mutated');
    // A rejected ini makes PgBouncer exit at once; a loaded one keeps running (and fails the test below).
    const exit = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
    const log = readFileSync(bed.model.postgres.pgbouncer.logfile, 'utf8') + readFileSync(proc.logFile, 'utf8');
    expect(exit).not.toBe('still running');
    expect(exit).not.toBe(0);
    expect(log).toMatch(message);
  });
});

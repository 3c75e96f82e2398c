import { spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The devstack depends on the blueprint, so the blueprint's tests reach its helpers by path (same source code).
import type { Testbed } from '../../devstack/src/testbed.js';
import { createTestbed, runAsPostgres, userIds } from './support/tools.js';
import { pgbackrestArchiveCommand, pgbackrestStanza, renderPgbackrestConf, type PgbackrestLayout, type PatroniMember } from '../src/index.js';

/**
 * The rendered pgbackrest.conf and archive_command checked by pgBackRest 2.45 itself, against a real
 * PostgreSQL 15 (one standalone member of the model, no Patroni): `info` reads the config without a
 * warning, `stanza-create`, `check` (a WAL switch that must reach the repository through the rendered
 * archive_command) and a full backup succeed. Broken variants must fail.
 */

let bed: Testbed;
let layout: PgbackrestLayout;
let member: PatroniMember;
let owner: { uid: number; gid: number };
let started = false;

const asPostgres = (command: string, args: string[], timeout = 120_000) => runAsPostgres(bed.workdir, command, args, timeout);
const pgbackrest = (config: string, ...args: string[]) => asPostgres('pgbackrest', [`--config=${config}`, `--stanza=${pgbackrestStanza(bed.model)}`, ...args]);
const bin = (name: string) => join(bed.model.postgres.binDir, name);
const sql = (statement: string) => asPostgres(bin('psql'), ['-X', '-At', '-h', member.socketDir, '-p', String(member.pgPort), '-U', 'postgres', '-d', 'postgres', '-c', statement]);

function mkdirOwned(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chownSync(dir, owner.uid, owner.gid);
}

beforeAll(async () => {
  bed = await createTestbed();
  owner = userIds('postgres');
  member = bed.model.postgres.members[0]!;
  const root = join(bed.workdir, 'pgbackrest');
  layout = { configFile: join(root, 'pgbackrest.conf'), repoPath: join(root, 'repo'), logPath: join(root, 'log'), lockPath: join(root, 'lock'), spoolPath: join(root, 'spool') };
  for (const dir of [root, layout.repoPath, layout.logPath, layout.lockPath, layout.spoolPath, dirname(dirname(member.dataDir)), dirname(member.dataDir)]) mkdirOwned(dir);
  writeFileSync(layout.configFile, renderPgbackrestConf(bed.model, layout));
  chownSync(layout.configFile, owner.uid, owner.gid);

  const initdb = asPostgres(bin('initdb'), ['-D', member.dataDir, '-A', 'peer', '--no-sync', '-E', 'UTF8', '--locale', 'C.UTF-8']);
  expect(initdb.code, initdb.out).toBe(0);
  // In postgresql.conf (not -c on the command line, which ALTER SYSTEM could not override in the broken-variant test).
  appendFileSync(join(member.dataDir, 'postgresql.conf'), `archive_mode = on\narchive_command = '${pgbackrestArchiveCommand(bed.model, member, layout).replaceAll("'", "''")}'\n`);
  const options = [`-c port=${member.pgPort}`, "-c listen_addresses=''", `-c unix_socket_directories=${member.socketDir}`].join(' ');
  const start = asPostgres(bin('pg_ctl'), ['-D', member.dataDir, '-l', join(dirname(member.dataDir), 'postgres.log'), '-w', '-t', '60', '-o', options, 'start']);
  expect(start.code, start.out).toBe(0);
  started = true;
}, 180_000);

afterAll(() => {
  if (started) asPostgres(bin('pg_ctl'), ['-D', member.dataDir, '-m', 'immediate', '-w', 'stop']);
  bed?.dispose();
});

describe('pgbackrest on the rendered pgbackrest.conf and archive_command', () => {
  it('reads the config without warnings (no unknown option)', () => {
    const r = pgbackrest(layout.configFile, 'info');
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/WARN|ERROR/);
    expect(r.out).toContain('missing stanza path');
  });

  it('creates the stanza, archives WAL through archive_command (check) and takes a full backup', () => {
    // The other members of the model do not run here: pgbackrest warns about each and goes on with pg1.
    const otherMembers = (out: string) => out.split('\n').filter((l) => /^(WARN|ERROR)/.test(l) && !/^WARN: unable to check pg[23]: \[DbConnectError\]/.test(l));
    const create = pgbackrest(layout.configFile, '--log-level-console=warn', 'stanza-create');
    expect(otherMembers(create.out)).toEqual([]);
    expect(create.code).toBe(0);
    // check forces a WAL switch and waits until the segment arrives through the rendered archive_command.
    const check = pgbackrest(layout.configFile, '--log-level-console=warn', 'check');
    expect(otherMembers(check.out)).toEqual([]);
    expect(check.code).toBe(0);
    expect(sql("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 1000)").code).toBe(0);
    const backup = pgbackrest(layout.configFile, '--log-level-console=error', 'backup', '--type=full');
    expect(backup.code, backup.out).toBe(0);
    const info = JSON.parse(pgbackrest(layout.configFile, '--output=json', 'info').out) as { status: { code: number }; backup: { type: string; error: boolean }[]; archive: { min: string | null; max: string | null }[] }[];
    expect(info[0]!.status.code).toBe(0);
    expect(info[0]!.backup.map((b) => [b.type, b.error])).toEqual([['full', false]]);
    expect(info[0]!.archive[0]!.max).toMatch(/^[0-9A-F]{24}$/);
  });

  it('warns about an unknown option in a broken config', () => {
    const broken = join(dirname(layout.configFile), 'broken.conf');
    copyFileSync(layout.configFile, broken);
    appendFileSync(broken, 'repo1-retention-ful=2\n');
    chownSync(broken, owner.uid, owner.gid);
    const r = pgbackrest(broken, 'info');
    expect(r.out).toContain("configuration file contains invalid option 'repo1-retention-ful'");
  });

  it("fails check when archive_command does not name the member's own data dir", () => {
    const shared = pgbackrestArchiveCommand(bed.model, member, layout).replace(/ --pg1-path=\S+/, ` --pg1-path=${bed.model.postgres.members[1]!.dataDir}`);
    expect(sql(`ALTER SYSTEM SET archive_command = '${shared}'`).code).toBe(0);
    expect(sql('SELECT pg_reload_conf()').code).toBe(0);
    try {
      // The archiver reloads asynchronously: wait until it has failed with the new command at least once.
      const failures = () => Number(sql('SELECT failed_count FROM pg_stat_archiver').out.trim());
      const before = failures();
      for (let i = 0; i < 100 && failures() === before; i++) {
        sql('CREATE TABLE IF NOT EXISTS churn (i int); INSERT INTO churn VALUES (1); SELECT pg_switch_wal()');
        spawnSync('sleep', ['0.2']);
      }
      expect(failures()).toBeGreaterThan(before);
      const r = pgbackrest(layout.configFile, '--log-level-console=error', '--archive-timeout=3', 'check');
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/was not archived before the 3000ms timeout/);
    } finally {
      sql('ALTER SYSTEM RESET archive_command');
      sql('SELECT pg_reload_conf()');
    }
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformSecrets } from '@numbering/blueprint';
import { createTestbed, startPostgresHa, waitFor, type PostgresHaHandle, type Testbed } from '@numbering/devstack';
import { contextFrom, type OpsContext, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { fetchCluster } from '../src/patroni.js';
import { psqlOn, stopRestoredServer } from '../src/pgbackrest.js';

/**
 * `ops pg status|switchover|failover` through Patroni's REST API and `ops backup postgres` /
 * `ops restore postgres` with pgBackRest, on the devstack's real PostgreSQL HA stack (etcd, 3 Patroni
 * members with WAL archiving, HAProxy, PgBouncer). The PITR test writes rows, notes the time, writes
 * more, restores to the noted time into a new directory, starts it and finds only the first rows.
 */

let bed: Testbed;
let ha: PostgresHaHandle | undefined;
const restoredDirs: string[] = [];


function context(io: OpsIo, opts: { secrets?: PlatformSecrets; assumeYes?: boolean } = {}): OpsContext {
  return contextFrom({ model: bed.model, secrets: opts.secrets ?? bed.secrets, workdir: bed.workdir, backupDir: join(bed.workdir, 'backups'), io, assumeYes: opts.assumeYes ?? false });
}

async function ops(argv: string[], opts: { secrets?: PlatformSecrets; answer?: boolean } = {}): Promise<{ code: number; out: string; err: string; asked: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const io: OpsIo = { out: (l) => out.push(l), err: (l) => err.push(l), confirm: async (q) => (asked.push(q), opts.answer ?? false), progress: () => undefined };
  const code = await main(argv, io, { context: (o) => context(io, { ...opts, assumeYes: o.assumeYes }) });
  return { code, out: out.join('\n'), err: err.join('\n'), asked };
}

const quietIo: OpsIo = { out: () => undefined, err: () => undefined, confirm: async () => false, progress: () => undefined };
const leader = async () => (await ha!.leader())!;
const syncStandby = async () => (await fetchCluster(context(quietIo))).cluster.members.find((m) => m.role === 'sync_standby')?.name;

/** SQL on the current primary through HAProxy, as the superuser, in the app database. */
async function onPrimary(sql: string): Promise<string> {
  const r = await psqlOn(context(quietIo), bed.model.postgres.haproxy.primaryPort, bed.model.postgres.config.database, sql);
  if (r.code !== 0) throw new Error(`psql: ${r.out}`);
  return r.out;
}

describe('ops pg and pgBackRest commands on a real Patroni cluster', () => {
  beforeAll(async () => {
    bed = await createTestbed();
    const t0 = Date.now();
    ha = await startPostgresHa(bed.model, bed.secrets);
    console.log(`[ops pg] HA stack (with WAL archiving and the pgBackRest stanza) up in ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    for (const dir of restoredDirs) if (existsSync(join(dir, 'postmaster.pid'))) await stopRestoredServer(context(quietIo), dir).catch(() => undefined);
    await ha?.stop({ fast: true });
    bed?.dispose();
  });

  it('pg status shows the leader and the streaming replicas', async () => {
    await waitFor('a synchronous standby', async () => (await syncStandby()) !== undefined, { timeoutMs: 30_000, intervalMs: 200 });
    const r = await ops(['pg', 'status']);
    console.log(`[ops pg] status:\n${r.out}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lead = await leader();
    expect(r.out).toMatch(new RegExp(`^${lead} +127\\.0\\.0\\.1:\\d+ +leader +running +1 +-$`, 'm'));
    expect(r.out.match(/ (sync_standby|replica) +running +1 +\d+ B$/gm)).toHaveLength(2);
    expect(r.out).toContain(`ok: leader ${lead}, 2 replica(s) running`);
  });

  it('refuses bad requests clearly and changes nothing', async () => {
    const before = await leader();
    const stranger = await ops(['pg', 'switchover', '--to', 'pg-9', '--yes']);
    expect(stranger.code).toBe(1);
    expect(stranger.err).toBe('ops pg switchover: no such member pg-9 (members: pg-0, pg-1, pg-2)');
    const self = await ops(['pg', 'failover', '--to', before, '--yes']);
    expect(self.err).toBe(`ops pg failover: ${before} is already the leader`);
    const async = (await fetchCluster(context(quietIo))).cluster.members.find((m) => m.role === 'replica')!.name;
    const notSync = await ops(['pg', 'switchover', '--to', async, '--yes']);
    expect(notSync.err).toMatch(new RegExp(`synchronous_mode is on and ${async} is not a synchronous standby`));
    const noTarget = await ops(['pg', 'failover', '--yes']);
    expect(noTarget.code).toBe(2);
    expect(noTarget.err).toContain('--to MEMBER is required');
    // Without --yes the question is asked; "no" changes nothing.
    const declined = await ops(['pg', 'switchover'], { answer: false });
    expect(declined.asked).toEqual([`Switch over the PostgreSQL leader from ${before} to a replica Patroni picks?`]);
    expect(declined.code).toBe(1);
    expect(declined.err).toBe('not confirmed; nothing changed');
    const wrongPassword = await ops(['pg', 'switchover', '--yes'], { secrets: { ...bed.secrets, postgres: { ...bed.secrets.postgres, superuser: 'wrong' } } });
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.err).toMatch(/Patroni refused the REST credentials \(HTTP 401 from pg-\d\)/);
    expect(await leader()).toBe(before);
  });

  it('switchover moves the leader to the named synchronous standby and prints how long it took', async () => {
    const before = await leader();
    const to = (await syncStandby())!;
    const r = await ops(['pg', 'switchover', '--to', to, '--yes']);
    console.log(`[ops pg] switchover ${before} -> ${to}:\n${r.out}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`Successfully switched over to "${to}": new leader ${to} running \\d+\\.\\d+ s after the request`));
    expect(await leader()).toBe(to);
    await ha!.waitHealthy(90_000);
    // /cluster shows what members last wrote to the DCS (every loop_wait): the old leader reports itself a running replica shortly after.
    let status = await ops(['pg', 'status']);
    await waitFor('pg status to be ok again', async () => (status = await ops(['pg', 'status'])).code === 0, { timeoutMs: 30_000, intervalMs: 500 });
    expect(status.out).toMatch(new RegExp(`^${before} +\\S+ +(sync_standby|replica) +running`, 'm'));
  });

  it('failover promotes the named replica', async () => {
    await waitFor('a synchronous standby', async () => (await syncStandby()) !== undefined, { timeoutMs: 30_000, intervalMs: 200 });
    const before = await leader();
    const to = (await syncStandby())!;
    const r = await ops(['pg', 'failover', '--to', to, '--yes']);
    console.log(`[ops pg] failover ${before} -> ${to}:\n${r.out}`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`new leader ${to} running`));
    expect(await leader()).toBe(to);
    await ha!.waitHealthy(90_000);
  });

  it('backs up with pgBackRest and restores to a point in time into a new directory: only the rows before that time', async () => {
    // Before any backup exists (the stanza does), a PITR has nothing to start from.
    const early = await ops(['restore', 'postgres', '--to', new Date(Date.now() - 1000).toISOString()]);
    expect(early.code).toBe(1);
    expect(early.err).toMatch(/has no backup of stanza numbering-pg/);

    const b0 = Date.now();
    const backup = await ops(['backup', 'postgres']);
    console.log(`[ops pg] backup postgres in ${Date.now() - b0} ms:\n${backup.out}${backup.err}`);
    expect(backup.err).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.out).toMatch(/pgbackrest full backup \d{8}-\d{6}F of stanza numbering-pg/);
    const label = /backup (\d{8}-\d{6}F)/.exec(backup.out)![1]!;
    const stopped = /\.\. (\S+Z) {2}database/.exec(backup.out.split('\n').find((l) => l.includes(label) && l.startsWith('  '))!)![1]!;
    // The backup must be complete before the rows the restore keeps: wait for the next whole second.
    await waitFor('the second after the backup ended', () => Date.now() >= Date.parse(stopped) + 1000, { timeoutMs: 5000, intervalMs: 50 });

    await onPrimary('CREATE TABLE pitr_rows (i int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())');
    await onPrimary('INSERT INTO pitr_rows (i) SELECT generate_series(1, 10)');
    const noted = await onPrimary("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    await onPrimary('INSERT INTO pitr_rows (i) SELECT generate_series(11, 20)');
    expect(await onPrimary('SELECT count(*) FROM pitr_rows')).toBe('20');

    const r0 = Date.now();
    const restore = await ops(['restore', 'postgres', '--to', noted]);
    console.log(`[ops pg] restore postgres --to ${noted} in ${Date.now() - r0} ms:\n${restore.out}${restore.err}`);
    expect(restore.err).toBe('');
    expect(restore.code).toBe(0);
    const dir = /into (\S+) in /.exec(restore.out)![1]!;
    restoredDirs.push(dir);
    const port = Number(/on 127\.0\.0\.1:(\d+)/.exec(restore.out)![1]);
    expect(restore.out).toMatch(/recovery: recovery stopping before commit of transaction \d+/);
    const restored = (sql: string) => psqlOn(context(quietIo), port, bed.model.postgres.config.database, sql).then((q) => q.out);
    expect(await restored('SELECT count(*), min(i), max(i) FROM pitr_rows')).toBe('10|1|10');
    expect(await restored('SELECT pg_is_in_recovery()')).toBe('f');
    // It never archives into the cluster's repository and is nobody's replica.
    expect(await restored('SHOW archive_mode')).toBe('off');
    expect(await restored('SHOW synchronous_standby_names')).toBe('');
    // The cluster itself is untouched.
    expect(await onPrimary('SELECT count(*) FROM pitr_rows')).toBe('20');
    expect(readFileSync(join(dir, 'pitr-postgres.log'), 'utf8')).toMatch(/recovery stopping before commit/);

    // The same directory again is refused; a time without a zone is a usage error.
    const again = await ops(['restore', 'postgres', '--to', noted, '--target-dir', dir]);
    expect(again.err).toMatch(/exists and is not empty/);
    const zoneless = await ops(['restore', 'postgres', '--to', noted.replace('Z', '')]);
    expect(zoneless.code).toBe(2);

    await stopRestoredServer(context(quietIo), dir);
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false);
  });
});

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  components,
  createTestbed,
  openStack,
  postgresUnhealthyReason,
  renderSupervisordConf,
  Supervisor,
  waitFor,
  type StackContext,
  type Testbed,
} from '@numbering/devstack';
import { contextFrom, type OpsContext, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { fetchCluster, isPatroniHealthy, isPatroniLeader } from '../src/patroni.js';
import { psqlOn } from '../src/pgbackrest.js';

/**
 * `ops restore postgres --to TIME --in-place` on the devstack's PostgreSQL component under a real
 * supervisord (etcd, 3 Patroni members with WAL archiving, HAProxy, PgBouncer; the rest of the devstack
 * is not needed): rows 1..10, TIME, rows 11..20, restore the cluster itself to TIME, and it holds rows
 * 1..10 with one leader and two streaming replicas, takes writes, and backs up again. Twice, so the
 * second restore starts from a cluster that an in-place restore produced (a later timeline).
 */

let bed: Testbed;
let stack: StackContext;
let supervisor: Supervisor | undefined;
const postgresComponent = components.find((c) => c.name === 'postgres')!;


const context = (io: OpsIo, assumeYes = false): OpsContext => contextFrom({ model: stack.model, secrets: stack.secrets, workdir: stack.workdir, backupDir: join(stack.workdir, 'backups'), io, assumeYes });

async function ops(argv: string[], opts: { answer?: boolean } = {}): Promise<{ code: number; out: string; err: string; asked: string[]; progress: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const progress: string[] = [];
  const io: OpsIo = { out: (l) => out.push(l), err: (l) => err.push(l), confirm: async (q) => (asked.push(q), opts.answer ?? false), progress: (s, d) => progress.push(d ? `${s}: ${d}` : s) };
  const code = await main(argv, io, { context: (o) => context(io, o.assumeYes) });
  return { code, out: out.join('\n'), err: err.join('\n'), asked, progress };
}

const quietIo: OpsIo = { out: () => undefined, err: () => undefined, confirm: async () => false, progress: () => undefined };

/** SQL on the current primary through HAProxy, as the superuser, in the app database. */
async function onPrimary(sql: string): Promise<string> {
  const r = await psqlOn(context(quietIo), stack.model.postgres.haproxy.primaryPort, stack.model.postgres.config.database, sql);
  if (r.code !== 0) throw new Error(`psql: ${r.out}`);
  return r.out;
}

async function backup(): Promise<string> {
  const r = await ops(['backup', 'postgres']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const label = /backup (\d{8}-\d{6}F)/.exec(r.out)![1]!;
  const stopped = /\.\. (\S+Z) {2}database/.exec(r.out.split('\n').find((l) => l.includes(label) && l.startsWith('  '))!)![1]!;
  // The restore needs a backup complete before TIME: wait for the next whole second.
  await waitFor('the second after the backup ended', () => Date.now() >= Date.parse(stopped) + 1000, { timeoutMs: 5000, intervalMs: 50 });
  return label;
}

describe('ops restore postgres --in-place on the devstack Patroni cluster under supervisord', () => {
  beforeAll(async () => {
    bed = await createTestbed();
    stack = openStack({ workdir: bed.workdir, set: { 'local.portOffset': bed.model.config.local.portOffset } });
    const t0 = Date.now();
    // What `devstack up` does, for the postgres component only.
    const programs = postgresComponent.programs(stack);
    for (const p of programs) mkdirSync(dirname(p.logFile), { recursive: true });
    supervisor = new Supervisor(stack.workdir);
    writeFileSync(supervisor.conf, renderSupervisordConf(stack.workdir, programs), { mode: 0o600 });
    await supervisor.ensureRunning();
    await postgresComponent.prepare(stack);
    await supervisor.start(programs.map((p) => p.name));
    await postgresComponent.waitReady(stack);
    await postgresComponent.initialize!(stack);
    await waitFor('a healthy cluster', async () => (await postgresUnhealthyReason(stack.model, true)) === undefined, { timeoutMs: 120_000, intervalMs: 500 });
    console.log(`[in-place] postgres component under supervisord up in ${Date.now() - t0} ms (workdir ${stack.workdir})`);
  });

  afterAll(async () => {
    await supervisor?.shutdown();
    if (process.env.INPLACE_KEEP_WORKDIR) console.log(`[in-place] kept ${bed.workdir}`);
    else bed?.dispose();
  });

  for (const round of [1, 2]) {
    it(`round ${round}: restores the cluster itself to TIME, keeps the old data, and the cluster works and backs up again`, async () => {
      const table = `inplace_round${round}`;
      const label = await backup();
      const timelineBefore = Number((await fetchCluster(context(quietIo))).cluster.members.find(isPatroniLeader)!.timeline);
      await onPrimary(`CREATE TABLE ${table} (i int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())`);
      await onPrimary(`INSERT INTO ${table} (i) SELECT generate_series(1, 10)`);
      const noted = await onPrimary("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
      await onPrimary(`INSERT INTO ${table} (i) SELECT generate_series(11, 20)`);
      expect(await onPrimary(`SELECT count(*) FROM ${table}`)).toBe('20');

      // Without --yes it asks; "no" changes nothing.
      const declined = await ops(['restore', 'postgres', '--to', noted, '--in-place'], { answer: false });
      expect(declined.asked).toEqual([`Replace the cluster's data with its state at ${noted}?`]);
      expect(declined.code).toBe(1);
      expect(declined.err).toBe('not confirmed; nothing changed');
      expect(declined.out).toContain(`from backup ${label}`);
      expect(await onPrimary(`SELECT count(*) FROM ${table}`)).toBe('20');

      const r0 = Date.now();
      const r = await ops(['restore', 'postgres', '--to', noted, '--in-place', '--yes']);
      const ms = Date.now() - r0;
      console.log(`[in-place] round ${round}: restore --in-place --to ${noted} took ${ms} ms\n${r.progress.join('\n')}\n${r.out}\n${r.err}`);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/recovery: recovery stopping before commit of transaction \d+/);
      expect(r.out).toContain('pgbackrest check ok');

      // Exactly the rows before TIME, through HAProxy's primary port.
      expect(await onPrimary(`SELECT count(*), min(i), max(i) FROM ${table}`)).toBe('10|1|10');
      // One leader, two streaming replicas, HAProxy agreeing; on a later timeline.
      expect(await postgresUnhealthyReason(stack.model, true)).toBeUndefined();
      const { cluster } = await fetchCluster(context(quietIo));
      const leaders = cluster.members.filter(isPatroniLeader);
      expect(leaders.map((m) => m.name)).toEqual([stack.model.postgres.members[0]!.name]);
      // Patroni 3.0.2 reports a replica as `running` (`streaming` from 3.0.4); postgresUnhealthyReason above read the leader's pg_stat_replication.
      const replicas = cluster.members.filter((m) => !isPatroniLeader(m));
      expect(replicas.map((m) => m.role).sort()).toEqual(['replica', 'sync_standby']);
      expect(replicas.every((m) => isPatroniHealthy(m) && m.timeline === leaders[0]!.timeline)).toBe(true);
      expect(leaders[0]!.timeline!).toBeGreaterThan(timelineBefore);
      // The old data is kept, not deleted.
      for (const m of stack.model.postgres.members) {
        const aside = new RegExp(`kept ${m.name}'s old data directory: (\\S+)`).exec(r.out)?.[1];
        expect(aside).toMatch(new RegExp(`^${m.dataDir}\\.before-restore-\\d{8}T\\d{6}Z$`));
        expect(existsSync(join(aside!, 'PG_VERSION'))).toBe(true);
      }
      // Writes work again, and replicate.
      await onPrimary(`INSERT INTO ${table} (i) VALUES (21)`);
      expect(await onPrimary(`SELECT count(*) FROM ${table}`)).toBe('11');
      let status = await ops(['pg', 'status']);
      await waitFor('pg status ok', async () => (status = await ops(['pg', 'status'])).code === 0, { timeoutMs: 60_000, intervalMs: 500 }).catch(() => undefined);
      console.log(`[in-place] round ${round}: pg status after the restore:\n${status.out}`);
      expect(status.code).toBe(0);
      // And the new timeline backs up.
      const b0 = Date.now();
      await backup();
      console.log(`[in-place] round ${round}: backup postgres after the restore in ${Date.now() - b0} ms`);
    });
  }
});

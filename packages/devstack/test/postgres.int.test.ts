import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pgLib from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_ROLES, PATRONI_REST_USER, readOnlyDatabase, renderPostgresBootstrapSql, type PatroniMember } from '@numbering/blueprint';
import { createTestbed, sleep, startPostgresHa, waitFor, type PostgresHaHandle, type Testbed } from '../src/index.js';

/**
 * The devstack's PostgreSQL HA stack for real: etcd, 3 Patroni members, HAProxy, PgBouncer. A writer
 * inserts through HAProxy's primary port every 50 ms while the leader's whole node is SIGKILLed; a new
 * leader must take writes again within the bound the platform promises (15 s) and no acknowledged row
 * may be missing afterwards.
 */

const FAILOVER_BOUND_MS = 15_000;
const WRITE_INTERVAL_MS = 50;

let bed: Testbed;
let ha: PostgresHaHandle | undefined;

const member = (name: string): PatroniMember => {
  const m = bed.model.postgres.members.find((x) => x.name === name);
  if (!m) throw new Error(`no member ${name}`);
  return m;
};

function client(port: number, opts: { superuser?: boolean; database?: string } = {}): pgLib.Client {
  const cfg = bed.model.postgres.config;
  const c = new pgLib.Client({
    host: '127.0.0.1',
    port,
    user: opts.superuser ? POSTGRES_ROLES.superuser : cfg.appUser,
    password: opts.superuser ? bed.secrets.postgres.superuser : bed.secrets.postgres.app,
    database: opts.database ?? cfg.database,
    connectionTimeoutMillis: 1000,
    query_timeout: 3000,
  });
  c.on('error', () => undefined); // a server that dies mid-session: reported by the next query
  return c;
}

async function query<T extends pgLib.QueryResultRow>(port: number, sql: string, params: unknown[] = [], opts: { superuser?: boolean; database?: string } = {}): Promise<T[]> {
  const c = client(port, opts);
  try {
    await c.connect();
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface WriteAttempt {
  seq: number;
  ok: boolean;
  at: number;
  error?: string;
}

/** Inserts seq 1, 2, 3… every `intervalMs` through `port`, reconnecting after any error, until stopped. */
function startWriter(port: number, run: string, intervalMs: number) {
  const attempts: WriteAttempt[] = [];
  let stopped = false;
  const done = (async () => {
    let c: pgLib.Client | undefined;
    for (let seq = 1; !stopped; seq++) {
      try {
        if (!c) {
          c = client(port);
          await c.connect();
        }
        await c.query('INSERT INTO ha_writes (run, seq) VALUES ($1, $2)', [run, seq]);
        attempts.push({ seq, ok: true, at: Date.now() });
      } catch (e) {
        attempts.push({ seq, ok: false, at: Date.now(), error: (e as Error).message });
        const dead = c;
        c = undefined;
        void dead?.end().catch(() => undefined);
      }
      await sleep(intervalMs);
    }
    await c?.end().catch(() => undefined);
  })();
  return {
    attempts,
    async stop() {
      stopped = true;
      await done;
    },
  };
}


describe('PostgreSQL HA devstack (etcd + Patroni + HAProxy + PgBouncer)', () => {
  beforeAll(async () => {
    bed = await createTestbed();
    const t0 = Date.now();
    ha = await startPostgresHa(bed.model, bed.secrets);
    console.log(`[postgres] cold start to healthy cluster + HAProxy + PgBouncer: ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    await ha?.stop({ fast: true });
  });

  const primaryPort = () => bed.model.postgres.haproxy.primaryPort;
  const replicaPort = () => bed.model.postgres.haproxy.replicaPort;

  it('bootstraps one leader with streaming replicas, and the app user owns the app database', async () => {
    const lead = await ha!.leader();
    expect(lead).toBeDefined();
    const [row] = await query<{ port: number; recovery: boolean; usr: string; db: string }>(
      primaryPort(),
      'SELECT inet_server_port() AS port, pg_is_in_recovery() AS recovery, current_user AS usr, current_database() AS db',
    );
    expect(row).toEqual({ port: member(lead!).pgPort, recovery: false, usr: bed.model.postgres.config.appUser, db: bed.model.postgres.config.database });
    // The app user creates its own tables (PostgreSQL 15: only the database owner may create in public).
    await query(primaryPort(), 'CREATE TABLE ha_writes (run text NOT NULL, seq int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (run, seq))');

    const [replica] = await query<{ recovery: boolean; port: number }>(replicaPort(), 'SELECT pg_is_in_recovery() AS recovery, inet_server_port() AS port');
    expect(replica?.recovery).toBe(true);
    expect(replica?.port).not.toBe(member(lead!).pgPort);

    // Password auth is enforced: a wrong password is refused.
    const wrong = new pgLib.Client({ host: '127.0.0.1', port: primaryPort(), user: bed.model.postgres.config.appUser, password: 'wrong', database: bed.model.postgres.config.database });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('guards Patroni REST unsafe endpoints with basic auth, health endpoints stay open', async () => {
    const lead = member((await ha!.leader())!);
    const base = `http://${lead.host}:${lead.restPort}`;
    const cfg = bed.model.postgres.config;
    // A patch that changes nothing: the same ttl.
    const body = JSON.stringify({ ttl: cfg.ttl });
    expect((await fetch(`${base}/config`, { method: 'PATCH', body })).status).toBe(401);
    const wrongAuth = `Basic ${Buffer.from(`${PATRONI_REST_USER}:wrong`).toString('base64')}`;
    expect((await fetch(`${base}/config`, { method: 'PATCH', body, headers: { authorization: wrongAuth } })).status).toBe(401);
    const auth = `Basic ${Buffer.from(`${PATRONI_REST_USER}:${bed.secrets.postgres.superuser}`).toString('base64')}`;
    const patched = await fetch(`${base}/config`, { method: 'PATCH', body, headers: { authorization: auth } });
    expect(patched.status).toBe(200);
    const config = (await patched.json()) as { ttl: number; loop_wait: number; retry_timeout: number; synchronous_mode: boolean; failsafe_mode: boolean };
    expect(config).toMatchObject({ ttl: cfg.ttl, loop_wait: cfg.loopWait, retry_timeout: cfg.retryTimeout, synchronous_mode: cfg.synchronousMode, failsafe_mode: cfg.failsafeMode });
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it(`fails over after kill -9 of the leader: writes through HAProxy resume within ${FAILOVER_BOUND_MS / 1000} s, no acknowledged row lost, old leader rejoins`, async () => {
    const oldLeader = (await ha!.leader())!;
    const writer = startWriter(primaryPort(), 'failover', WRITE_INTERVAL_MS);
    await waitFor('the writer to get 20 rows acknowledged', () => writer.attempts.filter((a) => a.ok).length >= 20, { timeoutMs: 20_000 });

    const killedAt = Date.now();
    await ha!.killMember(oldLeader);
    let newLeader: string | undefined;
    let leaderAt = 0;
    await waitFor('a new leader', async () => {
      newLeader = await ha!.leader();
      leaderAt = Date.now();
      return newLeader !== undefined && newLeader !== oldLeader;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    await waitFor('a write acknowledged after the kill', () => writer.attempts.some((a) => a.ok && a.at > killedAt), { timeoutMs: 60_000, intervalMs: 50 });
    // A few more writes on the new leader, then stop.
    await sleep(1000);
    await writer.stop();

    const firstOk = writer.attempts.find((a) => a.ok && a.at > killedAt)!;
    const acked = writer.attempts.filter((a) => a.ok).map((a) => a.seq);
    const failed = writer.attempts.filter((a) => !a.ok);
    const stored = new Set((await query<{ seq: number }>(primaryPort(), "SELECT seq FROM ha_writes WHERE run = 'failover'")).map((r) => r.seq));
    const lost = acked.filter((seq) => !stored.has(seq));
    const outage = firstOk.at - killedAt;
    const errors = [...new Set(failed.map((f) => f.error))].slice(0, 5);
    console.log(
      `[postgres] failover ${oldLeader} -> ${newLeader}: new leader (REST /primary 200) after ${leaderAt - killedAt} ms, first acknowledged write through HAProxy after ${outage} ms; ` +
        `${acked.length} acknowledged, ${failed.length} failed, ${lost.length} acknowledged rows lost; errors seen: ${JSON.stringify(errors)}`,
    );
    expect(newLeader).not.toBe(oldLeader);
    expect(outage).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    expect(lost).toEqual([]);
    expect(stored.size).toBeGreaterThanOrEqual(acked.length);

    const restartAt = Date.now();
    await ha!.startMember(oldLeader);
    await ha!.waitHealthy(60_000);
    console.log(`[postgres] old leader ${oldLeader} back as streaming replica after ${Date.now() - restartAt} ms`);
    expect(await ha!.leader()).toBe(newLeader);
    const old = member(oldLeader);
    expect((await fetch(`http://${old.host}:${old.restPort}/replica`)).status).toBe(200);
    const [onOld] = await query<{ n: string; recovery: boolean }>(old.pgPort, "SELECT count(*) AS n, pg_is_in_recovery() AS recovery FROM ha_writes WHERE run = 'failover'");
    expect(onOld?.recovery).toBe(true);
    await waitFor('the rejoined member to replay every row', async () => {
      const [r] = await query<{ n: string }>(old.pgPort, "SELECT count(*) AS n FROM ha_writes WHERE run = 'failover'");
      return Number(r?.n) === stored.size;
    }, { timeoutMs: 10_000 });
  });

  it('routes PgBouncer to the primary (read-write) and to the replicas (<db>_ro)', async () => {
    const bouncer = bed.model.postgres.pgbouncer.port;
    const lead = member((await ha!.leader())!);
    const [rw] = await query<{ port: number; recovery: boolean }>(bouncer, "INSERT INTO ha_writes (run, seq) VALUES ('pgbouncer', 1) RETURNING inet_server_port() AS port, pg_is_in_recovery() AS recovery");
    expect(rw).toEqual({ port: lead.pgPort, recovery: false });
    const [back] = await query<{ n: string }>(primaryPort(), "SELECT count(*) AS n FROM ha_writes WHERE run = 'pgbouncer'");
    expect(Number(back?.n)).toBe(1);
    const [ro] = await query<{ recovery: boolean }>(bouncer, 'SELECT pg_is_in_recovery() AS recovery', [], { database: readOnlyDatabase(bed.model.postgres.config.database) });
    expect(ro?.recovery).toBe(true);
    // The admin console answers the superuser only.
    const pools = await query<{ database: string }>(bouncer, 'SHOW POOLS', [], { superuser: true, database: 'pgbouncer' });
    expect(pools.map((p) => p.database)).toContain(bed.model.postgres.config.database);
  });

  it('re-runs the bootstrap SQL idempotently, e.g. to rotate the app password', async () => {
    const rotate = (secrets: typeof bed.secrets) => {
      const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(primaryPort()), '-U', POSTGRES_ROLES.superuser, '-d', 'postgres', '-f', '-'], {
        input: renderPostgresBootstrapSql(bed.model, secrets),
        encoding: 'utf8',
        env: { ...process.env, PGPASSWORD: secrets.postgres.superuser },
        timeout: 30_000,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    };
    const rotated = { ...bed.secrets, postgres: { ...bed.secrets.postgres, app: `${bed.secrets.postgres.app}-rotated` } };
    rotate(rotated);
    const login = (password: string) => {
      const c = new pgLib.Client({ host: '127.0.0.1', port: primaryPort(), user: bed.model.postgres.config.appUser, password, database: bed.model.postgres.config.database });
      return c.connect().then(() => c.end());
    };
    await expect(login(rotated.postgres.app)).resolves.toBeUndefined();
    await expect(login(bed.secrets.postgres.app)).rejects.toThrow(/password authentication failed/);
    rotate(bed.secrets);
    await expect(login(bed.secrets.postgres.app)).resolves.toBeUndefined();
    // The data of the app database survived both runs.
    const [row] = await query<{ n: string }>(primaryPort(), "SELECT count(*) AS n FROM ha_writes WHERE run = 'pgbouncer'");
    expect(Number(row?.n)).toBe(1);
  });

  it('keeps its data across a clean stop and start (devstack down/up)', async () => {
    const before = await query<{ n: string }>(primaryPort(), 'SELECT count(*) AS n FROM ha_writes');
    const stopAt = Date.now();
    await ha!.stop();
    const stopped = Date.now() - stopAt;
    // Nothing of ours may be left listening.
    const ports = [primaryPort(), bed.model.postgres.pgbouncer.port, ...bed.model.postgres.members.map((m) => m.pgPort)];
    for (const port of ports) await expect(query(port, 'SELECT 1')).rejects.toThrow();
    const startAt = Date.now();
    ha = await startPostgresHa(bed.model, bed.secrets);
    console.log(`[postgres] clean stop ${stopped} ms, restart on existing data to healthy ${Date.now() - startAt} ms`);
    const after = await query<{ n: string }>(primaryPort(), 'SELECT count(*) AS n FROM ha_writes');
    expect(after).toEqual(before);
  });

  it('leaves no SysV shared memory segment behind after a fast stop, and recovers from it', async () => {
    const ids = bed.model.postgres.members.map((m) => {
      const lines = readFileSync(`${m.dataDir}/postmaster.pid`, 'utf8').split('\n');
      return Number(/^\s*\d+\s+(\d+)/.exec(lines[6] ?? '')?.[1]);
    });
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    // Kill one node hard first: the segment it leaves must be cleaned up by stop() too.
    const lead = (await ha!.leader())!;
    await ha!.killMember(lead);
    const t0 = Date.now();
    await ha!.stop({ fast: true });
    console.log(`[postgres] fast stop: ${Date.now() - t0} ms`);
    ha = undefined;
    const table = readFileSync('/proc/sysvipc/shm', 'utf8').split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[1]));
    expect(ids.filter((id) => table.includes(id))).toEqual([]);
    // An immediate shutdown (and a SIGKILLed node) is a crash for PostgreSQL: the next start recovers it.
    const startAt = Date.now();
    ha = await startPostgresHa(bed.model, bed.secrets);
    console.log(`[postgres] restart after fast stop (crash recovery) to healthy: ${Date.now() - startAt} ms`);
    const [row] = await query<{ n: string }>(primaryPort(), "SELECT count(*) AS n FROM ha_writes WHERE run = 'pgbouncer'");
    expect(Number(row?.n)).toBe(1);
  });
});

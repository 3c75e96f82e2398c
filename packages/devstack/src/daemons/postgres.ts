import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  renderHaproxyConfig,
  renderPatroniConfig,
  renderPgbouncerIni,
  renderPgbouncerUserlist,
  renderPostgresBootstrapSql,
  pgbackrestArchiveCommand,
  type PatroniMember,
  type PgbackrestLayout,
  type PlatformModel,
  type PlatformSecrets,
} from '@numbering/blueprint';
import pgLib from 'pg';
import { sleep, startDaemon, waitFor, type DaemonProcess, type StartDaemonOptions } from '../process.js';
import { startEtcd, waitWhileRunning, type EtcdHandle, type EtcdOptions } from './etcd.js';
import { createPgbackrestStanza, pgbackrestLayout, preparePgbackrest } from './pgbackrest.js';

/**
 * The PostgreSQL HA stack of the devstack as plain processes: one etcd member (Patroni's DCS), one
 * Patroni per member (each runs its own PostgreSQL), HAProxy routing to whoever Patroni's REST API
 * calls primary/replica, PgBouncer in front of HAProxy. Patroni and PgBouncer run as `postgres`
 * (PostgreSQL and PgBouncer refuse root). Data, configs and logs live in the model's workdir, so a
 * stop followed by a start resumes the same cluster.
 */
export interface PostgresHaHandle {
  /** Member name whose REST /primary answers 200. */
  leader(): Promise<string | undefined>;
  /** kill -9 that member's Patroni + postmaster + backends (the whole "node"). */
  killMember(name: string): Promise<void>;
  /** Starts it again (it rejoins as a replica, through pg_rewind when it diverged). */
  startMember(name: string): Promise<void>;
  /** 1 leader + all other members streaming (one of them sync in synchronous mode), HAProxy 1 primary / N-1 replicas UP. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * Stops everything it started, by PID. Default: clean shutdown (Patroni stops PostgreSQL with a
   * checkpoint). `fast`: Patroni SIGKILL, postmasters SIGQUIT (immediate shutdown: crash recovery on
   * the next start, nothing committed is lost), for tests that throw the data away.
   */
  stop(opts?: { fast?: boolean }): Promise<void>;
  /** Where the pieces are, for tests and `devstack status`. */
  readonly paths: PostgresHaPaths;
}

export interface PostgresHaPaths {
  root: string;
  logs: string;
  etcdData: string;
  haproxyConfig: string;
  pgbouncerIni: string;
  bootstrapSql: string;
  patroniConfig(member: string): string;
  /** pgBackRest's config and repository (WAL archive + backups). */
  pgbackrest: PgbackrestLayout;
}

export const PG_USER = 'postgres';

export function postgresHaPaths(model: PlatformModel): PostgresHaPaths {
  const first = model.postgres.members[0];
  if (!first) throw new Error('postgres.members: no Patroni member in the model');
  // The model places member data at <workdir>/postgres/<member>/data.
  const pgRoot = dirname(dirname(first.dataDir));
  const root = dirname(pgRoot);
  return {
    root,
    logs: join(root, 'logs'),
    etcdData: join(root, 'etcd', 'data'),
    haproxyConfig: join(root, 'haproxy', 'haproxy.cfg'),
    pgbouncerIni: join(dirname(model.postgres.pgbouncer.authFile), 'pgbouncer.ini'),
    bootstrapSql: join(pgRoot, 'bootstrap.sql'),
    patroniConfig: (member) => join(pgRoot, member, 'patroni.yml'),
    pgbackrest: pgbackrestLayout(root),
  };
}

/** Only what these programs need from our environment: a stray PGPASSWORD, PATRONI_* or PYTHONPATH would change their behaviour. */
function daemonEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of Object.keys(process.env)) {
    if (/^(PG|PATRONI_|PYTHON)/.test(key)) env[key] = undefined;
  }
  return { ...env, HOME: home, LC_ALL: 'C.UTF-8' };
}

/** Short helper commands. No stdin (process.ts `run` writes to a stdin that fast commands may already have closed). */
function runQuick(command: string, args: string[]): { code: number; output: string } {
  const r = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

function userIds(user: string): { uid: number; gid: number } {
  const [u, g] = [runQuick('id', ['-u', user]), runQuick('id', ['-g', user])];
  if (u.code !== 0 || g.code !== 0) throw new Error(`system user ${user} is missing (install the postgresql package): ${u.output}${g.output}`);
  return { uid: Number(u.output.trim()), gid: Number(g.output.trim()) };
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) {
    const child = join(path, entry);
    if (lstatSync(child).isSymbolicLink()) continue;
    chownTree(child, uid, gid);
  }
}

function writePrivate(file: string, content: string, owner: { uid: number; gid: number }): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
  chownSync(file, owner.uid, owner.gid);
}

const procStat = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
};

/** Alive and not a zombie. */
function processRunning(pid: number): boolean {
  const stat = procStat(pid);
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

function childPids(parent: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent) kids.push(Number(entry));
  }
  return kids;
}

interface PostmasterInfo {
  pid: number;
  /** SysV shared memory id (line 7 of postmaster.pid), the segment a SIGKILLed postmaster leaves behind. */
  shmId?: number;
}

/** The postmaster of `dataDir`, only if the PID in postmaster.pid really is that data dir's postgres (PID files go stale). */
function postmasterOf(dataDir: string): PostmasterInfo | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const shm = /^\s*\d+\s+(\d+)/.exec(lines[6] ?? '');
  const info: PostmasterInfo = { pid, ...(shm?.[1] ? { shmId: Number(shm[1]) } : {}) };
  if (!Number.isInteger(pid) || pid <= 0 || !processRunning(pid)) return { ...info, pid: 0 };
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return { ...info, pid: 0 };
  }
  return cmdline.includes('postgres') && cmdline.includes(dataDir) ? info : { ...info, pid: 0 };
}

/**
 * A postmaster killed with SIGKILL leaves its SysV segment behind (PostgreSQL removes it itself on the
 * next start in that data dir, but not when the data dir is deleted). Removes the segment named in
 * our postmaster.pid only when nobody is attached to it any more.
 */
function removeOrphanSegment(shmId: number | undefined): void {
  if (shmId === undefined) return;
  let table = '';
  try {
    table = readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return;
  }
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // key shmid perms size cpid lpid nattch ...
    if (Number(f[1]) === shmId && Number(f[6]) === 0) runQuick('ipcrm', ['-m', String(shmId)]);
  }
}

async function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

interface PatroniStatus {
  role?: string;
  state?: string;
  replication?: { application_name: string; state: string; sync_state: string }[];
}

async function patroniStatus(member: PatroniMember): Promise<PatroniStatus | undefined> {
  try {
    const res = await fetch(`http://${member.host}:${member.restPort}/patroni`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as PatroniStatus;
  } catch {
    return undefined;
  }
}

/** HAProxy stats CSV: server names that are UP, per proxy. */
export async function haproxyUp(model: PlatformModel): Promise<Map<string, string[]>> {
  const { host, statsPort } = model.postgres.haproxy;
  const res = await fetch(`http://${host}:${statsPort}/;csv`, { signal: AbortSignal.timeout(1000) });
  const up = new Map<string, string[]>();
  for (const line of (await res.text()).split('\n')) {
    const [proxy, server, ...rest] = line.split(',');
    if (!proxy || !server || proxy.startsWith('#') || server === 'FRONTEND' || server === 'BACKEND') continue;
    // column 18 (index 17) is status; rest starts at index 2
    if (rest[15] === 'UP') up.set(proxy, [...(up.get(proxy) ?? []), server]);
  }
  return up;
}

export async function appCanQuery(model: PlatformModel, secrets: PlatformSecrets, port: number): Promise<boolean> {
  const client = new pgLib.Client({
    host: model.postgres.pgbouncer.host,
    port,
    user: model.postgres.config.appUser,
    password: secrets.postgres.app,
    database: model.postgres.config.database,
    connectionTimeoutMillis: 1000,
    query_timeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<{ ok: number }>('SELECT 1 AS ok')).rows[0]?.ok === 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What is missing for a healthy cluster (1 leader, every other member streaming, HAProxy agreeing when `withProxy`), or undefined when healthy. */
export async function postgresUnhealthyReason(model: PlatformModel, withProxy: boolean): Promise<string | undefined> {
  const pg = model.postgres;
  const codes = await Promise.all(pg.members.map((m) => httpStatus(`http://${m.host}:${m.restPort}/primary`)));
  const leaders = pg.members.filter((_, i) => codes[i] === 200);
  if (leaders.length !== 1) return `${leaders.length} members answer /primary with 200`;
  const lead = leaders[0]!;
  const status = await patroniStatus(lead);
  if (status?.state !== 'running') return `leader ${lead.name} is ${status?.state ?? 'unreachable'}`;
  const replication = status.replication ?? [];
  for (const m of pg.members) {
    if (m === lead) continue;
    const r = replication.find((x) => x.application_name === m.name);
    if (r?.state !== 'streaming') return `${m.name} is not streaming from ${lead.name} (${r?.state ?? 'not connected'})`;
  }
  if (pg.config.synchronousMode && !replication.some((x) => x.sync_state === 'sync' || x.sync_state === 'quorum')) {
    return `no synchronous standby yet`;
  }
  if (!withProxy) return undefined;
  const up = await haproxyUp(model);
  const primaries = up.get('primary') ?? [];
  if (primaries.length !== 1 || primaries[0] !== lead.name) return `HAProxy primary UP: [${primaries.join(', ')}], leader ${lead.name}`;
  const replicas = (up.get('replicas') ?? []).sort();
  const expected = pg.members.filter((m) => m !== lead).map((m) => m.name).sort();
  if (replicas.join() !== expected.join()) return `HAProxy replicas UP: [${replicas.join(', ')}], expected [${expected.join(', ')}]`;
  return undefined;
}

/** Member name whose REST /primary answers 200. */
export async function postgresLeader(model: PlatformModel): Promise<string | undefined> {
  const members = model.postgres.members;
  const codes = await Promise.all(members.map((m) => httpStatus(`http://${m.host}:${m.restPort}/primary`)));
  return members.find((_, i) => codes[i] === 200)?.name;
}

/** The single etcd member that is Patroni's DCS. */
export function postgresEtcdOptions(model: PlatformModel): EtcdOptions {
  const pg = model.postgres;
  if (pg.dcs.kind !== 'etcd3') throw new Error('postgres.dcs: the devstack needs an etcd3 DCS');
  const client = pg.dcs.hosts[0];
  if (!client) throw new Error('postgres.dcs.hosts: no etcd endpoint');
  const paths = postgresHaPaths(model);
  return {
    name: 'etcd-0',
    client,
    ...(model.monitoring.etcdMetrics[0] ? { metrics: model.monitoring.etcdMetrics[0] } : {}),
    dataDir: paths.etcdData,
    logFile: join(paths.logs, 'etcd.log'),
    clusterToken: `${model.namespace}-${pg.scope}`,
  };
}

/** One member's Patroni (it runs its PostgreSQL), as `postgres`: the same spec for `startDaemon` and supervisord. */
export function patroniSpec(model: PlatformModel, m: PatroniMember): StartDaemonOptions {
  const paths = postgresHaPaths(model);
  return {
    name: `patroni-${m.name}`,
    command: 'patroni',
    args: [paths.patroniConfig(m.name)],
    // PostgreSQL's own log goes to Patroni's stdout (no logging_collector); Patroni's log goes to member.logDir.
    logFile: join(paths.logs, `patroni-${m.name}.log`),
    cwd: dirname(m.dataDir),
    env: daemonEnv(dirname(m.dataDir)),
    user: PG_USER,
  };
}

export function haproxySpec(model: PlatformModel): StartDaemonOptions {
  const paths = postgresHaPaths(model);
  return { name: 'haproxy', command: 'haproxy', args: ['-db', '-f', paths.haproxyConfig], logFile: join(paths.logs, 'haproxy.log') };
}

export function pgbouncerSpec(model: PlatformModel): StartDaemonOptions {
  const paths = postgresHaPaths(model);
  return { name: 'pgbouncer', command: 'pgbouncer', args: [paths.pgbouncerIni], logFile: join(paths.logs, 'pgbouncer.out'), env: daemonEnv(dirname(paths.pgbouncerIni)), user: PG_USER };
}

/**
 * Renders every config (Patroni per member, bootstrap SQL, HAProxy, PgBouncer) and hands the tree to
 * `postgres`. Configs are rendered on every start, so a changed model (or secret) takes effect; the data stays.
 */
export function preparePostgresHa(model: PlatformModel, secrets: PlatformSecrets): PostgresHaPaths {
  const pg = model.postgres;
  const paths = postgresHaPaths(model);
  const owner = userIds(PG_USER);
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.etcdData, { recursive: true, mode: 0o700 });
  writePrivate(paths.bootstrapSql, renderPostgresBootstrapSql(model, secrets), owner);
  preparePgbackrest(model, paths.pgbackrest, owner);
  for (const m of pg.members) {
    const memberDir = dirname(m.dataDir);
    for (const dir of [memberDir, m.logDir]) mkdirSync(dir, { recursive: true, mode: 0o750 });
    const archiveCommand = pgbackrestArchiveCommand(model, m, paths.pgbackrest);
    writePrivate(paths.patroniConfig(m.name), renderPatroniConfig(model, m, secrets, { postBootstrapSqlFile: paths.bootstrapSql, archiveCommand }), owner);
  }
  const pgRoot = dirname(paths.bootstrapSql);
  chownTree(pgRoot, owner.uid, owner.gid);
  // PostgreSQL insists on a 0700 (or 0750) data dir; re-assert it in case something loosened it.
  for (const m of pg.members) if (existsSync(m.dataDir)) chmodSync(m.dataDir, 0o700);
  const reachable = runQuick('setpriv', [`--reuid=${PG_USER}`, `--regid=${PG_USER}`, '--init-groups', 'test', '-w', pgRoot]);
  if (reachable.code !== 0) throw new Error(`${pgRoot}: the ${PG_USER} user cannot write there; every parent directory must be world-executable (chmod o+x)`);

  mkdirSync(dirname(paths.haproxyConfig), { recursive: true });
  writeFileSync(paths.haproxyConfig, renderHaproxyConfig(model));
  const check = runQuick('haproxy', ['-c', '-q', '-f', paths.haproxyConfig]);
  if (check.code !== 0) throw new Error(`haproxy -c rejected ${paths.haproxyConfig}: ${check.output}`);

  writePrivate(paths.pgbouncerIni, renderPgbouncerIni(model), owner);
  writePrivate(pg.pgbouncer.authFile, renderPgbouncerUserlist(model, secrets), owner);
  chownTree(dirname(paths.pgbouncerIni), owner.uid, owner.gid);
  return paths;
}

export async function startPostgresHa(model: PlatformModel, secrets: PlatformSecrets): Promise<PostgresHaHandle> {
  if (model.target !== 'local') throw new Error(`startPostgresHa runs the devstack (target local), not ${model.target}`);
  const pg = model.postgres;
  const paths = preparePostgresHa(model, secrets);
  const members = new Map(pg.members.map((m) => [m.name, m]));
  const patroni = new Map<string, DaemonProcess>();
  const orphanSegments = new Set<number>();
  let etcd: EtcdHandle | undefined;
  let haproxy: DaemonProcess | undefined;
  let pgbouncer: DaemonProcess | undefined;

  const startPatroni = (m: PatroniMember) => {
    const proc = startDaemon(patroniSpec(model, m));
    patroni.set(m.name, proc);
    return proc;
  };

  const memberOf = (name: string) => {
    const m = members.get(name);
    if (!m) throw new Error(`no Patroni member ${name} (members: ${[...members.keys()].join(', ')})`);
    return m;
  };

  const leader = () => postgresLeader(model);

  const waitCluster = async (timeoutMs: number, withProxy: boolean) => {
    let reason: string | undefined = 'not checked yet';
    const daemons = [...(etcd ? [etcd.process] : []), ...(withProxy && haproxy ? [haproxy] : [])];
    try {
      await waitWhileRunning(daemons, 'a healthy PostgreSQL HA cluster', async () => (reason = await postgresUnhealthyReason(model, withProxy)) === undefined, { timeoutMs, intervalMs: 200 });
    } catch (e) {
      throw new Error(`${(e as Error).message}; last state: ${reason} (logs in ${paths.logs})`);
    }
  };

  const killMember = async (name: string) => {
    const m = memberOf(name);
    const proc = patroni.get(name);
    const postmaster = postmasterOf(m.dataDir);
    const pids = [...(proc?.alive() ? [proc.pid] : []), ...(postmaster?.pid ? [postmaster.pid, ...childPids(postmaster.pid)] : [])];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (postmaster?.shmId !== undefined) orphanSegments.add(postmaster.shmId);
    if (proc) await proc.exited;
    await waitFor(`${name}'s postgres processes to die`, () => pids.every((p) => !processRunning(p)), { timeoutMs: 10_000, intervalMs: 20 });
  };

  const startMember = async (name: string) => {
    const m = memberOf(name);
    if (patroni.get(name)?.alive()) throw new Error(`patroni ${name} is already running`);
    if (postmasterOf(m.dataDir)?.pid) throw new Error(`a postgres of ${name} is still running in ${m.dataDir}`);
    startPatroni(m);
  };

  const stopPostmasters = async (signal: NodeJS.Signals, timeoutMs: number) => {
    const running = pg.members.map((m) => postmasterOf(m.dataDir)).filter((p): p is PostmasterInfo => Boolean(p?.pid));
    for (const p of running) {
      try {
        process.kill(p.pid, signal);
      } catch {
        // already gone
      }
    }
    try {
      await waitFor('postmasters to exit', () => running.every((p) => !processRunning(p.pid)), { timeoutMs, intervalMs: 50 });
    } catch {
      for (const p of running) {
        if (!processRunning(p.pid)) continue;
        for (const pid of [p.pid, ...childPids(p.pid)]) process.kill(pid, 'SIGKILL');
        if (p.shmId !== undefined) orphanSegments.add(p.shmId);
      }
      await sleep(200);
    }
  };

  const stop = async (opts: { fast?: boolean } = {}) => {
    // Clients first, so nothing new reaches a PostgreSQL that is about to go.
    await Promise.all([pgbouncer?.stop('SIGTERM', 5000), haproxy?.stop('SIGTERM', 5000)]);
    const running = [...patroni.values()].filter((p) => p.alive());
    if (opts.fast) {
      // Patroni first, or it would restart the postgres we stop; SIGQUIT = immediate shutdown, which unlike
      // SIGKILL still removes the shared memory segment.
      await Promise.all(running.map((p) => p.stop('SIGKILL', 5000)));
      await stopPostmasters('SIGQUIT', 10_000);
    } else {
      // All at once: a member stopped alone would hand the leader lock to the others first.
      await Promise.all(running.map((p) => p.stop('SIGTERM', 60_000)));
      await stopPostmasters('SIGINT', 30_000);
    }
    await etcd?.stop();
    for (const m of pg.members) {
      const info = postmasterOf(m.dataDir);
      if (info?.shmId !== undefined && !info.pid) orphanSegments.add(info.shmId);
    }
    for (const id of orphanSegments) removeOrphanSegment(id);
    orphanSegments.clear();
  };

  try {
    etcd = await startEtcd(postgresEtcdOptions(model));
    for (const m of pg.members) startPatroni(m);
    await waitCluster(120_000, false);
    // WAL archiving (archive_command) works from here on; PostgreSQL retries the segments it could not push yet.
    await createPgbackrestStanza(model, paths.pgbackrest);

    haproxy = startDaemon(haproxySpec(model));
    // HAProxy 2.6 starts every server UP until its first check fails: wait for the real picture.
    await waitCluster(30_000, true);

    pgbouncer = startDaemon(pgbouncerSpec(model));
    // Ready means the whole path works: PgBouncer -> HAProxy -> leader, as the app user, in the app database.
    await waitWhileRunning([pgbouncer], `pgbouncer on ${pg.pgbouncer.host}:${pg.pgbouncer.port}`, () => appCanQuery(model, secrets, pg.pgbouncer.port), {
      timeoutMs: 15_000,
      intervalMs: 200,
      logFile: pg.pgbouncer.logfile || pgbouncer.logFile,
    });
  } catch (e) {
    await stop({ fast: true }).catch(() => undefined);
    throw e;
  }

  return {
    leader,
    killMember,
    startMember,
    waitHealthy: (timeoutMs = 60_000) => waitCluster(timeoutMs, true),
    stop,
    paths,
  };
}

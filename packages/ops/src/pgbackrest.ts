import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { POSTGRES_ROLES, pgbackrestStanza, type PgbackrestLayout } from '@numbering/blueprint';
import { createPgbackrestStanza, PGBACKREST_USER, pgbackrestEnv, postgresHaPaths, run as runCommand, runPgbackrest, type PgbackrestResult } from '@numbering/devstack';
import { UsageError } from './command.js';
import { OpsError, type OpsContext } from './context.js';

/**
 * `ops backup postgres` and `ops restore postgres` on pgBackRest: the repository and every Patroni
 * member are on the devstack machine (the stanza is the Patroni scope; the devstack creates it and
 * archives WAL continuously). A restore never touches the cluster: it rebuilds the data directory of
 * a chosen moment in a new directory and starts it as a standalone PostgreSQL to look at (the in-place
 * restore of the cluster itself, `--in-place`, is pg-restore-in-place.ts).
 */

// ---------- pure parts ----------

export interface PgbackrestBackupInfo {
  label: string;
  type: 'full' | 'diff' | 'incr';
  error?: boolean;
  timestamp: { start: number; stop: number };
  archive: { start: string; stop: string };
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  reference?: string[] | null;
}

export interface PgbackrestStanzaInfo {
  name: string;
  status: { code: number; message: string };
  backup: PgbackrestBackupInfo[];
  archive: { id: string; min: string | null; max: string | null }[];
  db: { id: number; 'system-id': number; version: string }[];
}

/** `pgbackrest info --output=json` for our stanza. */
export function parsePgbackrestInfo(json: string, stanza: string): PgbackrestStanzaInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new OpsError(`pgbackrest info did not print JSON: ${json.slice(0, 200)}`);
  }
  const found = Array.isArray(parsed) ? (parsed as PgbackrestStanzaInfo[]).find((s) => s.name === stanza) : undefined;
  if (!found) throw new OpsError(`pgbackrest info knows no stanza ${stanza}`);
  return found;
}

export interface RecoveryTarget {
  /** As given, for messages. */
  text: string;
  /**
   * For recovery_target_time (and pgbackrest --target): the same instant with its microseconds, written
   * `YYYY-MM-DD HH:MM:SS.ffffff+HH`: PostgreSQL's check of that setting rejects a `Z` zone.
   */
  postgres: string;
  /** Milliseconds since the epoch, for choosing a backup. */
  ms: number;
}

const TARGET_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * `--to` must name an instant: an ISO 8601 time with a zone (`2026-11-01T03:00:00Z`,
 * `2026-11-01 04:00:00.123456+01:00`). A time without a zone would be read in the server's time zone.
 */
export function parseRecoveryTarget(text: string): RecoveryTarget {
  const trimmed = text.trim();
  const m = TARGET_PATTERN.exec(trimmed);
  if (!m) throw new UsageError(`--to must be a time with a zone, e.g. 2026-11-01T03:00:00Z or "2026-11-01 04:00:00.5+01:00"; got ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s = '0', frac = '0', zone] = m;
  const offsetMinutes = (() => {
    if (zone!.toUpperCase() === 'Z') return 0;
    const digits = zone!.slice(1).replace(':', '');
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
    return zone![0] === '-' ? -minutes : minutes;
  })();
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(frac.padEnd(3, '0').slice(0, 3)));
  const check = new Date(local);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new UsageError(`--to ${JSON.stringify(text)} is not a valid date and time`);
  }
  const postgres = `${y}-${mo}-${d} ${h}:${mi}:${s.padStart(2, '0')}${m[7] ? `.${m[7]}` : ''}${zone!.toUpperCase() === 'Z' ? '+00' : zone}`;
  return { text: trimmed, postgres, ms: local - offsetMinutes * 60_000 };
}

/**
 * The newest good backup that was complete before the target: its stop time (whole seconds) plus one
 * second is still at or before the target, so the target is past the backup's consistency point.
 */
export function chooseBackupForTime(info: PgbackrestStanzaInfo, target: RecoveryTarget): PgbackrestBackupInfo {
  const good = info.backup.filter((b) => !b.error);
  if (good.length === 0) throw new OpsError(`the repository has no backup of stanza ${info.name} (run \`ops backup postgres\` first)`);
  const eligible = good.filter((b) => (b.timestamp.stop + 1) * 1000 <= target.ms);
  if (eligible.length === 0) {
    const first = good.reduce((a, b) => (a.timestamp.stop <= b.timestamp.stop ? a : b));
    throw new OpsError(`no backup finished before ${target.text}: the earliest, ${first.label}, finished at ${new Date(first.timestamp.stop * 1000).toISOString()}; choose a later --to`);
  }
  return eligible.reduce((a, b) => (a.timestamp.stop >= b.timestamp.stop ? a : b));
}

/** What the restored server's log says about where recovery stopped, or why it could not. */
export function summarizeRecoveryLog(log: string): { stopped?: string; timeline?: number; fatal?: string } {
  const stopped = /LOG:\s+(recovery stopping (?:before|after) .*)$/m.exec(log)?.[1];
  const timeline = /selected new timeline ID: (\d+)/.exec(log)?.[1];
  const fatal = /FATAL:\s+(.*)$/m.exec(log)?.[1];
  return { ...(stopped ? { stopped } : {}), ...(timeline ? { timeline: Number(timeline) } : {}), ...(fatal ? { fatal } : {}) };
}

const utc = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function formatBackupList(info: PgbackrestStanzaInfo): string[] {
  const archive = info.archive[0];
  return [
    `WAL archive: ${archive?.min ?? '-'} .. ${archive?.max ?? '-'}`,
    ...info.backup.map((b) => `  ${b.label}  ${b.type.padEnd(4)}  ${utc(b.timestamp.start)} .. ${utc(b.timestamp.stop)}  database ${mib(b.info.size)}, in repository ${mib(b.info.repository.delta)}${b.error ? '  (ERROR: incomplete)' : ''}`),
  ];
}

// ---------- the devstack's pgBackRest ----------

export interface PgbackrestTarget {
  layout: PgbackrestLayout;
  stanza: string;
}

/** The devstack's pgBackRest; other targets run backups in their own CronJobs (not from here). */
export function pgbackrestTarget(ctx: OpsContext): PgbackrestTarget {
  if (ctx.source !== 'devstack' || ctx.model.target !== 'local') {
    throw new OpsError(`pgBackRest backups run where the repository and the data directories are: on the devstack. ${ctx.description} has neither on this machine`);
  }
  const layout = postgresHaPaths(ctx.model).pgbackrest;
  if (!existsSync(layout.configFile)) throw new OpsError(`no pgBackRest config at ${layout.configFile}: start the devstack first (\`pnpm devstack up\` renders it and creates the stanza)`);
  return { layout, stanza: pgbackrestStanza(ctx.model) };
}

export const lastLines = (r: PgbackrestResult, n = 6) => `${r.stdout}${r.stderr}`.trim().split('\n').filter((l) => !/^\s*$/.test(l)).slice(-n).join('\n');

export async function pgbackrest(ctx: OpsContext, t: PgbackrestTarget, args: string[], timeoutMs?: number): Promise<PgbackrestResult> {
  return runPgbackrest(ctx.model, t.layout, args, timeoutMs);
}

export async function readPgbackrestInfo(ctx: OpsContext, t: PgbackrestTarget): Promise<PgbackrestStanzaInfo> {
  const r = await pgbackrest(ctx, t, ['--output=json', '--log-level-console=error', 'info']);
  if (r.code !== 0) throw new OpsError(`pgbackrest info failed (exit ${r.code}):\n${lastLines(r)}`);
  return parsePgbackrestInfo(r.stdout, t.stanza);
}

export interface PostgresBackupResult {
  backup: PgbackrestBackupInfo;
  info: PgbackrestStanzaInfo;
  ms: number;
  createdStanza: boolean;
}

/**
 * A backup: the stanza is created if missing, `check` proves WAL archiving works (a backup without the
 * WAL after it restores only to its own end), then the backup; pgBackRest expires old ones itself.
 */
export async function backupPostgres(ctx: OpsContext, opts: { type: 'full' | 'diff' | 'incr'; keepFull?: number }): Promise<PostgresBackupResult> {
  const t = pgbackrestTarget(ctx);
  const started = Date.now();
  let info = await readPgbackrestInfo(ctx, t);
  let createdStanza = false;
  if (info.status.code === 1) {
    ctx.io.progress('pgbackrest stanza-create', t.stanza);
    await createPgbackrestStanza(ctx.model, t.layout).catch((e: Error) => {
      throw new OpsError(e.message);
    });
    createdStanza = true;
  }
  ctx.io.progress('pgbackrest check', 'WAL archiving reaches the repository');
  const check = await pgbackrest(ctx, t, ['--log-level-console=error', 'check']);
  if (check.code !== 0) throw new OpsError(`pgbackrest check failed (exit ${check.code}): WAL archiving does not work, so a backup could not be restored to a later time:\n${lastLines(check)}\n(logs in ${t.layout.logPath} and the members' PostgreSQL logs)`);
  ctx.io.progress(`pgbackrest backup --type=${opts.type}`, t.stanza);
  const before = new Set(info.backup.map((b) => b.label));
  const backup = await pgbackrest(ctx, t, ['--log-level-console=error', 'backup', `--type=${opts.type}`, ...(opts.keepFull ? [`--repo1-retention-full=${opts.keepFull}`] : [])], 6 * 3600_000);
  if (backup.code !== 0) throw new OpsError(`pgbackrest backup failed (exit ${backup.code}):\n${lastLines(backup)}\n(log in ${t.layout.logPath})`);
  info = await readPgbackrestInfo(ctx, t);
  const made = info.backup.filter((b) => !before.has(b.label)).at(-1);
  if (!made) throw new OpsError('pgbackrest backup exited 0 but info lists no new backup');
  return { backup: made, info, ms: Date.now() - started, createdStanza };
}

// ---------- point-in-time restore into a new directory ----------

/** argv that runs a PostgreSQL program as postgres (PostgreSQL refuses root). */
export function asPostgres(command: string, args: string[]): string[] {
  return process.getuid?.() === 0 ? ['setpriv', `--reuid=${PGBACKREST_USER}`, `--regid=${PGBACKREST_USER}`, '--init-groups', command, ...args] : [command, ...args];
}

export async function run(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<PgbackrestResult> {
  const [command, ...args] = argv;
  try {
    return await runCommand(command!, args, { cwd: opts.cwd, env: { ...pgbackrestEnv(), ...opts.env }, inheritEnv: false, timeoutMs: opts.timeoutMs ?? 120_000 });
  } catch (e) {
    throw new OpsError((e as Error).message);
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r, reject) => server.once('error', reject).listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A shell word for pg_ctl -o (pg_ctl hands the string to /bin/sh). */
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export interface RestoreOptions {
  target: RecoveryTarget;
  targetDir?: string;
  port?: number;
  start: boolean;
  timeoutMs: number;
}

export interface RestoreResult {
  backup: PgbackrestBackupInfo;
  dataDir: string;
  restoreMs: number;
  /** Present when started. */
  server?: { port: number; logFile: string; stopped?: string; timeline?: number; promotedMs: number };
  database: string;
  superuser: string;
}

export const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(/[-:]/g, '');

/** Runs SQL on a server of this machine over TCP as the superuser (psql: no client library needed). */
export async function psqlOn(ctx: OpsContext, port: number, database: string, sql: string): Promise<{ code: number; out: string }> {
  const bin = join(ctx.model.postgres.binDir, 'psql');
  const r = await run([bin, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', POSTGRES_ROLES.superuser, '-d', database, '-c', sql], {
    cwd: '/',
    env: { PGPASSWORD: ctx.secret('postgres.superuser'), PGCONNECT_TIMEOUT: '3' },
    timeoutMs: 30_000,
  });
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * pgbackrest restore --type=time into a new directory, then (unless `start` is false) PostgreSQL on it
 * as a standalone server: another port, no archiving (it must never push its new timeline into the
 * cluster's repository), no synchronous standby to wait for, its own pg_hba. Recovery replays the WAL
 * archive up to the target and promotes.
 */
export async function restorePostgresToTime(ctx: OpsContext, opts: RestoreOptions): Promise<RestoreResult> {
  const t = pgbackrestTarget(ctx);
  const members = ctx.model.postgres.members;
  const dataDir = resolve(opts.targetDir ?? join(dirname(dirname(members[0]!.dataDir)), `pitr-${stamp(opts.target.ms)}`));
  for (const m of members) {
    if (dataDir === m.dataDir || dataDir.startsWith(`${m.dataDir}/`) || m.dataDir.startsWith(`${dataDir}/`)) {
      throw new OpsError(`${dataDir} is (or holds) ${m.name}'s data directory; a restore goes into a new directory (to restore the cluster itself use --in-place)`);
    }
  }
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new OpsError(`${dataDir} exists and is not empty; choose another --target-dir`);

  const info = await readPgbackrestInfo(ctx, t);
  const backup = chooseBackupForTime(info, opts.target);
  // The target may lie in the WAL segment still being written: `check` switches WAL and waits until it is archived.
  // Best effort: with the cluster down, recovery uses what the archive has.
  ctx.io.progress('pgbackrest check', 'archiving the current WAL so the target time is in the archive');
  const check = await pgbackrest(ctx, t, ['--log-level-console=error', 'check']);
  if (check.code !== 0) ctx.io.progress('pgbackrest check failed', `${lastLines(check, 2)} (restoring from what is archived)`);

  const pg = statSync(t.layout.repoPath);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chownSync(dataDir, pg.uid, pg.gid);
  ctx.io.progress('pgbackrest restore', `${backup.label} -> ${dataDir}, recovery target ${opts.target.text}`);
  const restoreStarted = Date.now();
  const restore = await pgbackrest(ctx, t, [
    '--log-level-console=error',
    'restore',
    `--set=${backup.label}`,
    '--type=time',
    `--target=${opts.target.postgres}`,
    '--target-action=promote',
    // Written into postgresql.auto.conf: the restored server never archives into the cluster's repository.
    '--archive-mode=off',
    `--pg1-path=${dataDir}`,
  ]);
  if (restore.code !== 0) throw new OpsError(`pgbackrest restore failed (exit ${restore.code}):\n${lastLines(restore)}`);
  const restoreMs = Date.now() - restoreStarted;
  const result: RestoreResult = { backup, dataDir, restoreMs, database: ctx.model.postgres.config.database, superuser: POSTGRES_ROLES.superuser };
  if (!opts.start) return result;

  const port = opts.port ?? (await freePort());
  const logFile = join(dataDir, 'pitr-postgres.log');
  const started = await startRecoveryServer(ctx, { dataDir, port, logFile, target: opts.target, timeoutMs: opts.timeoutMs, settings: { archive_mode: 'off', cluster_name: `pitr-${stamp(opts.target.ms)}` } });
  result.server = { port, logFile, ...started };
  return result;
}

export interface RecoveryServerOptions {
  dataDir: string;
  port: number;
  logFile: string;
  target: RecoveryTarget;
  timeoutMs: number;
  /** Settings on top of the standalone ones (archive_mode, archive_command, cluster_name). */
  settings: Record<string, string>;
}

/**
 * Starts PostgreSQL with pg_ctl on a restored data directory as a standalone server (127.0.0.1:port, no
 * socket, nobody's replica, no synchronous standby, its own pg_hba) and waits until recovery has reached
 * the target and promoted.
 */
export async function startRecoveryServer(ctx: OpsContext, opts: RecoveryServerOptions): Promise<{ stopped?: string; timeline?: number; promotedMs: number }> {
  const { dataDir, port, logFile } = opts;
  // Patroni's postgresql.conf names the member's port, sockets, pg_hba and synchronous standbys: override all of them.
  const settings = {
    port: String(port),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    synchronous_standby_names: '',
    primary_conninfo: '',
    primary_slot_name: '',
    hba_file: join(dataDir, 'pg_hba.conf'),
    ident_file: join(dataDir, 'pg_ident.conf'),
    ...opts.settings,
  };
  const options = Object.entries(settings).map(([k, v]) => `-c ${k}=${sh(v)}`).join(' ');
  const pgCtl = join(ctx.model.postgres.binDir, 'pg_ctl');
  ctx.io.progress('starting PostgreSQL on the restored directory', `127.0.0.1:${port}`);
  const startedAt = Date.now();
  const start = await run(asPostgres(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', String(Math.ceil(opts.timeoutMs / 1000)), '-o', options, 'start']), { cwd: dataDir, timeoutMs: opts.timeoutMs + 10_000 });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  if (start.code !== 0) {
    const summary = summarizeRecoveryLog(log());
    const hint = /recovery ended before configured recovery target was reached/.test(summary.fatal ?? '')
      ? `\nrecovery needs a transaction committed after ${opts.target.text} in the WAL archive: either none was committed since (an idle cluster: nothing to undo, the latest state is that time) or its WAL is not archived yet (PostgreSQL archives a segment when it is full or after archive_timeout; retry a little later)`
      : '';
    throw new OpsError(`PostgreSQL did not start on ${dataDir}: ${summary.fatal ?? lastLines(start)}${hint}\n(log: ${logFile}; the restored directory is kept)`);
  }
  // pg_ctl returns once connections are accepted (hot standby during recovery); wait for the promotion.
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const q = await psqlOn(ctx, port, 'postgres', 'SELECT pg_is_in_recovery()');
    if (q.code === 0 && q.out === 'f') break;
    const fatal = summarizeRecoveryLog(log()).fatal;
    if (fatal) throw new OpsError(`recovery on ${dataDir} failed: ${fatal} (log: ${logFile})`);
    if (Date.now() > deadline) throw new OpsError(`the restored server on port ${port} was still in recovery after ${opts.timeoutMs} ms (log: ${logFile})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const summary = summarizeRecoveryLog(log());
  return { ...(summary.stopped ? { stopped: summary.stopped } : {}), ...(summary.timeline ? { timeline: summary.timeline } : {}), promotedMs: Date.now() - startedAt };
}

/** The command that stops a restored server, as printed for the operator. */
export const stopCommand = (ctx: OpsContext, dataDir: string) => asPostgres(join(ctx.model.postgres.binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', 'stop']).join(' ');

export async function stopRestoredServer(ctx: OpsContext, dataDir: string): Promise<void> {
  const r = await run(asPostgres(join(ctx.model.postgres.binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']), { cwd: dataDir });
  if (r.code !== 0) throw new OpsError(`pg_ctl stop on ${dataDir} failed: ${lastLines(r)}`);
}

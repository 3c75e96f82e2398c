import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pgbackrestArchiveCommand, type PatroniMember, type PlatformModel } from '@numbering/blueprint';
import { postgresLeader, postgresUnhealthyReason, Supervisor } from '@numbering/devstack';
import { OpsError, type OpsContext } from './context.js';
import { fetchCluster, isPatroniHealthy, isPatroniLeader } from './patroni.js';
import {
  asPostgres,
  chooseBackupForTime,
  freePort,
  lastLines,
  pgbackrest,
  pgbackrestTarget,
  psqlOn,
  readPgbackrestInfo,
  run,
  stamp,
  startRecoveryServer,
  type PgbackrestBackupInfo,
  type RecoveryTarget,
} from './pgbackrest.js';

/**
 * `ops restore postgres --to TIME --in-place`: the devstack's Patroni cluster itself goes back to TIME.
 * Patroni would strip pgBackRest's recovery target from postgresql.auto.conf and promote as soon as it
 * holds the leader lock, so recovery runs outside Patroni: a standalone PostgreSQL on the first member's
 * restored data directory replays the archive up to TIME and promotes; then Patroni takes that
 * directory over as leader (no initialize key in the DCS and a non-empty data dir: it acquires the lock
 * and writes the initialize key itself) and re-clones the other members from it.
 */

export const README_RUNBOOK = 'packages/ops/README.md, "In-place cluster restore by hand"';

// ---------- pure parts ----------

/** Patroni's keys in etcd: `<namespace>/<scope>/` (namespace `/service/` → `/service/numbering-pg/`). */
export function dcsPrefix(namespace: string, scope: string): string {
  const ns = `/${namespace.replace(/^\/+|\/+$/g, '')}`;
  return `${ns === '/' ? '' : ns}/${scope}/`;
}

/** etcd's range_end for "every key with this prefix": the prefix with its last byte plus one. */
export function prefixRangeEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! + 1;
  return bytes.toString('latin1');
}

/**
 * The DCS keys to delete: all of the cluster's state except `config`, the dynamic configuration
 * (synchronous_mode, ttl, PATCHed settings), which is the same before and after the restore.
 */
export function dcsKeysToRemove(keys: readonly string[], prefix: string): string[] {
  return keys.filter((k) => k.startsWith(prefix) && k !== `${prefix}config`);
}

/** Where a member's old data directory is kept: `<dir>.before-restore-<UTC time>`. */
export const asideDirName = (dataDir: string, ms: number) => `${dataDir.replace(/\/+$/, '')}.before-restore-${stamp(ms)}`;

export const patroniProgram = (member: Pick<PatroniMember, 'name'>) => `patroni-${member.name}`;

/**
 * Replicas first, the leader last: a leader stopped first would hand its lock to a replica, which would
 * promote and push a needless timeline into the WAL archive.
 */
export function stopOrder(members: readonly string[], leader: string | undefined): string[][] {
  const replicas = members.filter((m) => m !== leader);
  return leader && members.includes(leader) ? [replicas, [leader]].filter((g) => g.length > 0) : [replicas];
}

// ---------- etcd (Patroni's DCS on the devstack) ----------

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('latin1');

function etcdUrl(model: PlatformModel): string {
  const dcs = model.postgres.dcs;
  if (dcs.kind !== 'etcd3' || !dcs.hosts[0]) throw new OpsError('postgres.dcs: the in-place restore needs the devstack etcd3 DCS');
  return `http://${dcs.hosts[0].host}:${dcs.hosts[0].port}`;
}

async function etcdPost<T>(model: PlatformModel, path: string, body: unknown): Promise<T> {
  const url = `${etcdUrl(model)}/v3/kv/${path}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new OpsError(`etcd ${url}: ${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new OpsError(`etcd ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

export async function dcsKeys(model: PlatformModel, prefix: string): Promise<string[]> {
  const r = await etcdPost<{ kvs?: { key: string }[] }>(model, 'range', { key: b64(prefix), range_end: b64(prefixRangeEnd(prefix)), keys_only: true });
  return (r.kvs ?? []).map((kv) => unb64(kv.key));
}

async function removeClusterFromDcs(model: PlatformModel, prefix: string): Promise<string[]> {
  const remove = dcsKeysToRemove(await dcsKeys(model, prefix), prefix);
  for (const key of remove) await etcdPost(model, 'deleterange', { key: b64(key) });
  return remove;
}

// ---------- processes ----------

/** The postmaster's PID from postmaster.pid when that process is alive. */
function runningPostmaster(dataDir: string): number | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<{ done: true; value: T } | { done: false; last: string }>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked yet';
  for (;;) {
    const r = await probe().catch((e: Error) => ({ done: false as const, last: e.message }));
    if (r.done) return r.value;
    last = r.last;
    if (Date.now() > deadline) throw new OpsError(`${what}: not after ${Math.round(timeoutMs / 1000)} s (last seen: ${last})`);
    await sleep(300);
  }
}

// ---------- the restore ----------

export interface InPlaceRestoreOptions {
  target: RecoveryTarget;
  /** How long each wait (recovery, leader, replicas) may take. */
  timeoutMs: number;
  /** Asked once everything is checked and before anything changes; false stops with nothing changed. */
  confirm: (plan: InPlacePlan) => Promise<boolean>;
}

export interface InPlacePlan {
  backup: PgbackrestBackupInfo;
  members: string[];
  leader?: string;
  restoreInto: string;
}

export interface InPlaceRestoreResult {
  confirmed: boolean;
  plan: InPlacePlan;
  aside: { member: string; from: string; to: string }[];
  removedKeys: string[];
  recovery?: { stopped?: string; timeline?: number; promotedMs: number };
  leader?: string;
  timeline?: number;
  steps: { step: string; ms: number }[];
  totalMs: number;
  check?: { ok: boolean; message: string };
}

/** The devstack's supervisord with a program per Patroni member, or an error that says what to do instead. */
async function devstackSupervisor(ctx: OpsContext): Promise<Supervisor> {
  if (ctx.source !== 'devstack' || ctx.model.target !== 'local' || !ctx.workdir) {
    throw new OpsError(`--in-place is automated for the devstack only; ${ctx.description} runs its members elsewhere: follow the runbook in ${README_RUNBOOK}`);
  }
  const supervisor = new Supervisor(ctx.workdir);
  if (!supervisor.pid()) throw new OpsError(`no supervisord runs the devstack in ${ctx.workdir} (the in-place restore stops and starts the Patroni members through it): \`pnpm devstack up\` first`);
  const states = await supervisor.status();
  const missing = ctx.model.postgres.members.map(patroniProgram).filter((p) => !states.has(p));
  if (missing.length) throw new OpsError(`supervisord in ${ctx.workdir} has no program ${missing.join(', ')}; is the devstack up with this config?`);
  return supervisor;
}

export async function restorePostgresInPlace(ctx: OpsContext, opts: InPlaceRestoreOptions): Promise<InPlaceRestoreResult> {
  const model = ctx.model;
  const members = model.postgres.members;
  const first = members[0]!;
  const supervisor = await devstackSupervisor(ctx);
  const t = pgbackrestTarget(ctx);
  const prefix = dcsPrefix(model.postgres.namespace, model.postgres.scope);
  await dcsKeys(model, prefix); // etcd must answer before anything is stopped

  const info = await readPgbackrestInfo(ctx, t);
  const backup = chooseBackupForTime(info, opts.target);
  const leader = await postgresLeader(model);
  const plan: InPlacePlan = { backup, members: members.map((m) => m.name), ...(leader ? { leader } : {}), restoreInto: first.dataDir };
  const result: InPlaceRestoreResult = { confirmed: false, plan, aside: [], removedKeys: [], steps: [], totalMs: 0 };
  if (!(await opts.confirm(plan))) return result;
  result.confirmed = true;

  const started = Date.now();
  let stepStarted = started;
  const step = (name: string, detail?: string) => {
    const now = Date.now();
    if (result.steps.length) result.steps[result.steps.length - 1]!.ms = now - stepStarted;
    stepStarted = now;
    result.steps.push({ step: name, ms: 0 });
    ctx.io.progress(`${name} (${((now - started) / 1000).toFixed(1)} s)`, detail);
  };

  // Best effort: it switches WAL and waits until the segment holding TIME is in the repository.
  if (leader) {
    step('pgbackrest check', 'archiving the current WAL so TIME is in the repository');
    const check = await pgbackrest(ctx, t, ['--log-level-console=error', 'check']);
    if (check.code !== 0) ctx.io.progress('pgbackrest check failed', `${lastLines(check, 2)} (restoring from what is archived)`);
  }

  step('stopping Patroni', stopOrder(plan.members, leader).map((g) => g.join(' ')).join(', then '));
  const states = await supervisor.status();
  for (const group of stopOrder(plan.members, leader)) {
    const running = group.map((name) => patroniProgram({ name })).filter((p) => ['RUNNING', 'STARTING', 'BACKOFF'].includes(states.get(p)?.state ?? ''));
    await supervisor.stop(running).catch((e: Error) => {
      throw new OpsError(`stopping ${running.join(', ')}: ${e.message}`);
    });
  }
  // supervisord stops the process group; make sure no postmaster outlived its Patroni.
  await until('every member PostgreSQL to stop', 60_000, async () => {
    const alive = members.filter((m) => runningPostmaster(m.dataDir) !== undefined).map((m) => m.name);
    return alive.length ? { done: false, last: `still running: ${alive.join(', ')}` } : { done: true, value: undefined };
  });

  const goBack = () =>
    result.aside.length
      ? `\nThe old data directories are kept: ${result.aside.map((a) => `${a.member} ${a.to}`).join(', ')}. To go back: stop the Patroni members, move each back to its data directory, remove the DCS keys under ${prefix} except config, start the members.`
      : '';
  try {
    step('removing the cluster from the DCS', `etcd keys under ${prefix} except config`);
    result.removedKeys = await removeClusterFromDcs(model, prefix);

    step('moving the old data directories aside');
    const owner = statSync(t.layout.repoPath);
    for (const m of members) {
      if (!existsSync(m.dataDir)) continue;
      const to = asideDirName(m.dataDir, started);
      renameSync(m.dataDir, to);
      result.aside.push({ member: m.name, from: m.dataDir, to });
      ctx.io.progress(`  ${m.name}: ${m.dataDir} -> ${to}`);
      mkdirSync(m.dataDir, { mode: 0o700 });
      chownSync(m.dataDir, owner.uid, owner.gid);
    }

    step('pgbackrest restore', `${backup.label} -> ${first.dataDir} (${first.name}), recovery target ${opts.target.text}`);
    const restore = await pgbackrest(ctx, t, ['--log-level-console=error', 'restore', `--set=${backup.label}`, '--type=time', `--target=${opts.target.postgres}`, '--target-action=promote', `--pg1-path=${first.dataDir}`]);
    if (restore.code !== 0) throw new OpsError(`pgbackrest restore failed (exit ${restore.code}):\n${lastLines(restore)}`);

    step('recovery to TIME', 'standalone PostgreSQL on the restored directory, archiving its new timeline');
    const port = await freePort();
    const logFile = join(dirname(first.dataDir), `restore-${stamp(started)}.log`);
    result.recovery = await startRecoveryServer(ctx, {
      dataDir: first.dataDir,
      port,
      logFile,
      target: opts.target,
      timeoutMs: opts.timeoutMs,
      // The restored server is the cluster now: its new timeline belongs in the repository.
      settings: { archive_mode: 'on', archive_command: pgbackrestArchiveCommand(model, first, t.layout), cluster_name: model.postgres.scope },
    });
    // pgbackrest's restore_command and recovery target stay in postgresql.auto.conf, where they would override Patroni's settings.
    const reset = await psqlOn(ctx, port, 'postgres', 'ALTER SYSTEM RESET ALL');
    if (reset.code !== 0) throw new OpsError(`ALTER SYSTEM RESET ALL on the restored server failed: ${reset.out}`);
    const stop = await run(asPostgres(join(model.postgres.binDir, 'pg_ctl'), ['-D', first.dataDir, '-m', 'fast', '-w', '-t', '120', 'stop']), { cwd: first.dataDir, timeoutMs: 130_000 });
    if (stop.code !== 0) throw new OpsError(`pg_ctl stop on ${first.dataDir} failed: ${lastLines(stop)} (log: ${logFile})`);

    step(`starting ${first.name} alone`, 'Patroni takes the restored directory over as leader');
    await supervisor.start([patroniProgram(first)]);
    result.timeline = await until(`${first.name} to lead the cluster`, opts.timeoutMs, async () => {
      const { cluster } = await fetchCluster(ctx, 1000);
      const me = cluster.members.find((m) => m.name === first.name);
      const ok = me && isPatroniLeader(me) && isPatroniHealthy(me) && (await postgresLeader(model)) === first.name;
      return ok ? { done: true, value: me.timeline } : { done: false, last: me ? `${me.name} is ${me.role}, ${me.state}` : `${first.name} not registered` };
    });
    result.leader = first.name;

    const others = members.slice(1);
    step('starting the other members', `${others.map((m) => m.name).join(', ')}: Patroni clones them from ${first.name}`);
    await supervisor.start(others.map(patroniProgram));
    await until('every replica streaming and HAProxy routing to the new leader', opts.timeoutMs, async () => {
      const reason = await postgresUnhealthyReason(model, true);
      return reason === undefined ? { done: true, value: undefined } : { done: false, last: reason };
    });
  } catch (e) {
    const message = e instanceof OpsError ? e.message : `${(e as Error).message}`;
    throw new OpsError(`the in-place restore stopped at "${result.steps.at(-1)?.step}": ${message}${goBack()}`);
  }

  step('pgbackrest check', 'WAL archiving from the new timeline reaches the repository');
  const check = await pgbackrest(ctx, t, ['--log-level-console=error', 'check']);
  result.check = { ok: check.code === 0, message: check.code === 0 ? 'ok' : lastLines(check, 4) };
  step('done');
  result.steps.pop();
  result.totalMs = Date.now() - started;
  return result;
}

import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pgbackrestStanza, renderPgbackrestConf, type PgbackrestLayout, type PlatformModel } from '@numbering/blueprint';
import { run, type RunResult } from '../process.js';

/**
 * pgBackRest on the devstack: one repository under `<workdir>/pgbackrest/`, written by `archive-push`
 * (run by each primary's PostgreSQL as postgres) and by backups. Everything here runs as postgres,
 * which owns the data dirs it reads and the repository it writes.
 */

export const PGBACKREST_USER = 'postgres';

export function pgbackrestLayout(workdir: string): PgbackrestLayout {
  const root = join(workdir, 'pgbackrest');
  return {
    configFile: join(root, 'pgbackrest.conf'),
    repoPath: join(root, 'repo'),
    logPath: join(root, 'log'),
    lockPath: join(root, 'lock'),
    spoolPath: join(root, 'spool'),
  };
}

const rootOf = (layout: PgbackrestLayout) => join(layout.configFile, '..');

/** Writes pgbackrest.conf and creates the repository, log, lock and spool dirs, all owned by postgres. */
export function preparePgbackrest(model: PlatformModel, layout: PgbackrestLayout, owner: { uid: number; gid: number }): void {
  const root = rootOf(layout);
  for (const dir of [root, layout.repoPath, layout.logPath, layout.lockPath, layout.spoolPath]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    chownSync(dir, owner.uid, owner.gid);
  }
  writeFileSync(layout.configFile, renderPgbackrestConf(model, layout), { mode: 0o640 });
  chmodSync(layout.configFile, 0o640);
  chownSync(layout.configFile, owner.uid, owner.gid);
}

/** Only what pgbackrest needs from our environment: PG* or PGBACKREST_* variables would silently override its options. */
export function pgbackrestEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^PG/.test(key)) env[key] = value;
  return { ...env, LC_ALL: 'C.UTF-8' };
}

export type PgbackrestResult = RunResult;

/** The argv that runs `pgbackrest --config=… --stanza=… <args>` as postgres (setpriv when we are root). */
export function pgbackrestArgv(model: PlatformModel, layout: PgbackrestLayout, args: string[]): string[] {
  const pgbackrest = ['pgbackrest', `--config=${layout.configFile}`, `--stanza=${pgbackrestStanza(model)}`, ...args];
  return process.getuid?.() === 0 ? ['setpriv', `--reuid=${PGBACKREST_USER}`, `--regid=${PGBACKREST_USER}`, '--init-groups', ...pgbackrest] : pgbackrest;
}

/** Runs pgbackrest as postgres; never throws on a non-zero exit (callers word the error). */
export function runPgbackrest(model: PlatformModel, layout: PgbackrestLayout, args: string[], timeoutMs = 600_000): Promise<PgbackrestResult> {
  const [command, ...argv] = pgbackrestArgv(model, layout, args);
  // cwd: a directory postgres may enter (the caller's cwd may be /root). TERM on timeout lets pgbackrest release its locks.
  return run(command!, argv, { cwd: rootOf(layout), env: pgbackrestEnv(), inheritEnv: false, timeoutMs, timeoutSignal: 'SIGTERM' });
}

/**
 * `stanza-create` once the cluster has a primary: idempotent (an existing, matching stanza is fine),
 * so every start runs it. Until it has run, archive-push fails and PostgreSQL keeps the WAL and retries.
 * A repository left from an earlier cluster (other system identifier, e.g. after the data dirs were
 * wiped) is moved aside, not deleted, and a new stanza created.
 */
export async function createPgbackrestStanza(model: PlatformModel, layout: PgbackrestLayout): Promise<void> {
  let r = await runPgbackrest(model, layout, ['--log-level-console=warn', 'stanza-create'], 120_000);
  if (r.code !== 0 && /do not match the database/.test(r.stdout + r.stderr) && existsSync(layout.repoPath)) {
    const aside = `${layout.repoPath}.stale-${new Date().toISOString().replaceAll(/[-:.]/g, '')}`;
    renameSync(layout.repoPath, aside);
    mkdirSync(layout.repoPath, { mode: 0o750 });
    const owner = statSync(aside);
    chownSync(layout.repoPath, owner.uid, owner.gid);
    r = await runPgbackrest(model, layout, ['--log-level-console=warn', 'stanza-create'], 120_000);
    if (r.code === 0) console.error(`pgbackrest: the repository belonged to another cluster; moved it to ${aside} and created a new stanza`);
  }
  if (r.code !== 0) throw new Error(`pgbackrest stanza-create failed (exit ${r.code}): ${(r.stdout + r.stderr).trim()}\nlogs in ${layout.logPath}`);
}

/** Whether the stanza exists in the repository (its archive.info is there). */
export function pgbackrestStanzaExists(model: PlatformModel, layout: PgbackrestLayout): boolean {
  const archive = join(layout.repoPath, 'archive', pgbackrestStanza(model));
  return existsSync(archive) && readdirSync(archive).some((f) => f.startsWith('archive.info'));
}

/**
 * The status line of `pgbackrest info --output=json`: the stanza exists (code 0, or 2 "no valid
 * backup" right after `up`, which is normal) and WAL has reached the archive, so a PITR is possible
 * from the first backup on. Anything else is a problem the line names.
 */
export function pgbackrestHealthFromInfo(json: string): { ok: boolean; detail: string } {
  let stanzas: { name?: string; status?: { code?: number; message?: string }; backup?: { label?: string; type?: string; timestamp?: { stop?: number } }[]; archive?: { min?: string | null; max?: string | null }[] }[];
  try {
    stanzas = JSON.parse(json) as typeof stanzas;
  } catch {
    return { ok: false, detail: `pgbackrest info printed no JSON: ${json.slice(0, 200)}` };
  }
  const stanza = stanzas[0];
  if (!stanza?.status) return { ok: false, detail: 'pgbackrest info: no stanza' };
  const { code, message } = stanza.status;
  const archived = stanza.archive?.find((a) => a.max)?.max;
  const last = stanza.backup?.at(-1);
  if (code === 0) {
    const at = last?.timestamp?.stop ? new Date(last.timestamp.stop * 1000).toISOString().replace('.000Z', 'Z') : '?';
    return { ok: true, detail: `stanza ${stanza.name}: ${stanza.backup?.length ?? 0} backups, last ${last?.type ?? '?'} ${last?.label ?? ''} at ${at}; WAL archived up to ${archived ?? 'nothing yet'}` };
  }
  if (code === 2) return { ok: true, detail: `stanza ${stanza.name}: no backup yet (\`pnpm ops backup postgres\`); WAL archived up to ${archived ?? 'nothing yet'}` };
  return { ok: false, detail: `stanza ${stanza.name ?? '?'}: ${message ?? `status ${code}`}` };
}

export async function pgbackrestHealth(model: PlatformModel, layout: PgbackrestLayout): Promise<{ ok: boolean; detail: string }> {
  const r = await runPgbackrest(model, layout, ['--output=json', 'info'], 30_000);
  if (r.code !== 0) return { ok: false, detail: `pgbackrest info exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}` };
  return pgbackrestHealthFromInfo(r.stdout);
}

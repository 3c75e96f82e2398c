import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisNode } from '@numbering/blueprint';
import { parseClusterNodes, run } from '@numbering/devstack';
import { OpsError, type OpsContext } from './context.js';
import { CLUSTER_SLOTS, connectRedisAdmin, modelNodeOf, nodeAddress, parseInfo, REDIS_ADMIN_USER, slotRanges, slotsOf, type RedisAdminConnection } from './redis.js';

/**
 * `ops backup redis`: a fresh RDB snapshot of every master (BGSAVE, then INFO persistence polled
 * until that snapshot is on disk), copied with the master's AOF into `<backupDir>/redis-<stamp>/`,
 * and a manifest naming the slots each master served, so a restore knows which files hold which keys.
 */

export const REDIS_MANIFEST = 'manifest.json';

export interface BackupFile {
  /** Path relative to the backup directory. */
  file: string;
  bytes: number;
  sha256: string;
}

export interface RedisMasterBackup {
  node: string;
  address: string;
  /** Cluster node id: the one `nodes.conf` of a restored node must carry for the slot map to match. */
  id: string;
  slots: string;
  slotCount: number;
  /** LASTSAVE after the snapshot (unix seconds). */
  lastSave: number;
  bgsaveMs: number;
  rdb: BackupFile;
  aof: { collected: true; dir: string; files: BackupFile[] } | { collected: false; reason: string };
}

export interface RedisBackupManifest {
  kind: 'numbering/redis-backup';
  version: 1;
  createdAt: string;
  source: string;
  target: string;
  /** `files`: RDB and AOF copied from each master's dir; `redis-cli --rdb`: RDB fetched over the network. */
  method: 'files' | 'redis-cli --rdb';
  masters: RedisMasterBackup[];
}

export type RedisBackupMethod = 'files' | 'remote';

/** `2026-11-01T03:00:05.123Z` → `redis-20261101T030005Z`: sorts by time and is safe in every file system. */
export const redisBackupName = (at: Date) => `redis-${at.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(/[-:]/g, '')}`;

/** Files a Redis 7 AOF manifest lists (`file appendonly.aof.1.base.rdb seq 1 type b`), base first. */
export function parseAofManifest(text: string): { file: string; type: string }[] {
  const entries: { file: string; type: string }[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields = line.trim().split(/\s+/);
    const pairs = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) pairs.set(fields[i]!, fields[i + 1]!);
    const file = pairs.get('file');
    const type = pairs.get('type');
    if (!file || !type) throw new Error(`unreadable AOF manifest line: ${JSON.stringify(line)}`);
    // Redis writes names without directories; anything else would let a manifest point outside its dir.
    if (file.includes('/') || file === '..') throw new Error(`AOF manifest names a file outside its directory: ${file}`);
    entries.push({ file, type });
  }
  return entries;
}

interface Persistence {
  inProgress: boolean;
  saves: number;
  lastStatus: string;
  lastSave: number;
}

async function persistence(conn: RedisAdminConnection): Promise<Persistence> {
  const info = parseInfo(await conn.text('INFO', 'persistence'));
  return {
    inProgress: info.get('rdb_bgsave_in_progress') === '1',
    saves: Number(info.get('rdb_saves') ?? 0),
    lastStatus: info.get('rdb_last_bgsave_status') ?? 'unknown',
    lastSave: Number(info.get('rdb_last_save_time') ?? 0),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * BGSAVE and wait until that snapshot is written. A save already running (a `save` rule, a replica's
 * full sync) started before our request and may miss recent writes, so it is waited out first; then
 * `rdb_saves` grows past its value before our BGSAVE once ours has run, and `rdb_bgsave_in_progress`
 * drops to 0 when it is on disk. BGSAVE SCHEDULE queues behind a running AOF rewrite instead of failing.
 */
export async function bgsaveAndWait(conn: RedisAdminConnection, opts: { timeoutMs: number; intervalMs?: number }): Promise<{ lastSave: number; ms: number }> {
  const interval = opts.intervalMs ?? 100;
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const name = conn.node.name;
  let state = await persistence(conn);
  while (state.inProgress) {
    if (Date.now() > deadline) throw new OpsError(`${name}: a background save already running did not finish within ${opts.timeoutMs} ms`);
    await sleep(interval);
    state = await persistence(conn);
  }
  const before = state.saves;
  const reply = await conn.text('BGSAVE', 'SCHEDULE');
  if (!/Background saving (started|scheduled)/.test(reply)) throw new OpsError(`${name}: BGSAVE answered ${JSON.stringify(reply)}`);
  for (;;) {
    state = await persistence(conn);
    if (state.saves > before && !state.inProgress) break;
    if (Date.now() > deadline) throw new OpsError(`${name}: BGSAVE did not finish within ${opts.timeoutMs} ms (rdb_bgsave_in_progress:${state.inProgress ? 1 : 0})`);
    await sleep(interval);
  }
  if (state.lastStatus !== 'ok') throw new OpsError(`${name}: BGSAVE failed (rdb_last_bgsave_status:${state.lastStatus}); see the node's log`);
  const lastSave = Number(await conn.call('LASTSAVE'));
  return { lastSave, ms: Date.now() - started };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function describeFile(root: string, relative: string): Promise<BackupFile> {
  const path = join(root, relative);
  return { file: relative, bytes: statSync(path).size, sha256: await sha256(path) };
}

async function configValue(conn: RedisAdminConnection, key: string): Promise<string> {
  const reply = (await conn.call('CONFIG', 'GET', key)) as string[];
  const value = reply[1];
  if (value === undefined) throw new OpsError(`${conn.node.name}: CONFIG GET ${key} returned nothing`);
  return value;
}

/**
 * Copies the multi-part AOF (manifest + the files it lists). A rewrite that finishes meanwhile
 * replaces the files, so the manifest is read again afterwards and the copy repeated if it changed.
 * The last incr file may end in the middle of a command written during the copy: Redis loads such a
 * tail (`aof-load-truncated yes`, the default) and `redis-check-aof --fix` trims it.
 */
async function copyAof(sourceDir: string, manifestName: string, destDir: string, backupRoot: string, destRelative: string): Promise<BackupFile[]> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const manifestPath = join(sourceDir, manifestName);
    if (!existsSync(manifestPath)) throw new OpsError(`no AOF manifest at ${manifestPath} (is appendonly on?)`);
    const manifest = readFileSync(manifestPath, 'utf8');
    rmSync(destDir, { recursive: true, force: true });
    mkdirSync(destDir, { recursive: true });
    try {
      for (const entry of parseAofManifest(manifest)) copyFileSync(join(sourceDir, entry.file), join(destDir, entry.file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5) continue; // removed by a rewrite mid-copy
      throw e;
    }
    if (readFileSync(manifestPath, 'utf8') !== manifest) continue;
    writeFileSync(join(destDir, manifestName), manifest);
    const files = [manifestName, ...parseAofManifest(manifest).map((e) => e.file)];
    return Promise.all(files.map((f) => describeFile(backupRoot, join(destRelative, f))));
  }
  throw new OpsError(`${sourceDir}: the AOF kept being rewritten while it was copied (5 attempts)`);
}

/** `redis-cli --rdb`: the node streams a fresh RDB over the replication protocol (REPLCONF rdb-only). Password via REDISCLI_AUTH, never argv. */
async function fetchRdb(node: RedisNode, password: string, dest: string, timeoutMs: number): Promise<void> {
  const argv = ['-h', node.host, '-p', String(node.port), '--user', REDIS_ADMIN_USER, '--no-auth-warning', '--rdb', dest];
  const r = await run('redis-cli', argv, { env: { REDISCLI_AUTH: password }, timeoutMs }).catch((e: Error) => {
    throw new OpsError(e.message);
  });
  const output = `${r.stdout}${r.stderr}`;
  if (r.code !== 0 || !/Transfer finished with success/.test(output)) throw new OpsError(`${node.name}: redis-cli --rdb failed (exit ${r.code}): ${output.trim().split('\n').at(-1)}`);
}

export interface RedisBackupOptions {
  method?: RedisBackupMethod;
  timeoutMs: number;
}

interface MasterPlan {
  node: RedisNode;
  id: string;
  slots: number[];
}

/** The live masters and their slots; refuses a cluster with unserved slots, since such a backup would be incomplete. */
async function planMasters(ctx: OpsContext): Promise<MasterPlan[]> {
  const nodes = ctx.model.redis.nodes;
  const errors: string[] = [];
  for (const node of nodes) {
    let conn: RedisAdminConnection | undefined;
    try {
      conn = await connectRedisAdmin(ctx, node);
      if (parseInfo(await conn.text('INFO', 'replication')).get('role') !== 'master') continue;
      const view = parseClusterNodes(await conn.text('CLUSTER', 'NODES'));
      const masters = view.filter((e) => e.flags.includes('master') && !e.flags.some((f) => f === 'fail' || f === 'fail?') && slotsOf(e.slots).length > 0);
      const plans = masters.map((e) => {
        const model = modelNodeOf(nodes, e);
        if (!model) throw new OpsError(`master ${e.id.slice(0, 8)} (port ${e.port}) is not a node of the platform model`);
        return { node: model, id: e.id, slots: slotsOf(e.slots) };
      });
      const covered = new Set(plans.flatMap((p) => p.slots));
      if (covered.size !== CLUSTER_SLOTS) {
        const missing = Array.from({ length: CLUSTER_SLOTS }, (_, s) => s).filter((s) => !covered.has(s));
        throw new OpsError(`the cluster does not serve ${missing.length} slots (${slotRanges(missing).slice(0, 80)}); a backup now would be incomplete. Run \`ops redis check\``);
      }
      return plans.sort((a, b) => a.node.name.localeCompare(b.node.name));
    } catch (e) {
      if (e instanceof OpsError) throw e;
      errors.push((e as Error).message);
    } finally {
      conn?.close();
    }
  }
  throw new OpsError(`no Redis master answered (${ctx.description}): ${errors.join('; ') || 'every reachable node is a replica'}`);
}

/** Files on this machine only for the devstack; Docker volumes and pods are not reachable from here. */
function defaultMethod(ctx: OpsContext): RedisBackupMethod {
  return ctx.source === 'devstack' && ctx.model.target === 'local' ? 'files' : 'remote';
}

export async function backupRedis(ctx: OpsContext, opts: RedisBackupOptions): Promise<{ dir: string; manifest: RedisBackupManifest }> {
  const method = opts.method ?? defaultMethod(ctx);
  const plans = await planMasters(ctx);
  const now = ctx.now();
  let name = redisBackupName(now);
  for (let i = 1; existsSync(join(ctx.backupDir, name)); i++) name = `${redisBackupName(now)}-${i}`;
  const finalDir = join(ctx.backupDir, name);
  const workDir = join(ctx.backupDir, `.${name}.partial`);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const password = ctx.secret('redis.admin');

  try {
    // All masters snapshot at once: the copies are then as close in time as the cluster allows (there is no cross-shard point in time).
    ctx.io.progress('BGSAVE', plans.map((p) => p.node.name).join(', '));
    const opened = await Promise.allSettled(plans.map((p) => connectRedisAdmin(ctx, p.node)));
    const connections = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = opened.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    if (refused.length) {
      connections.forEach((c) => c.close());
      throw new OpsError(`cannot reach every master: ${refused.join('; ')}`);
    }
    let saves: { lastSave: number; ms: number }[];
    try {
      saves = await Promise.all(connections.map((c) => bgsaveAndWait(c, { timeoutMs: opts.timeoutMs })));
    } catch (e) {
      connections.forEach((c) => c.close());
      throw e;
    }
    const masters: RedisMasterBackup[] = [];
    for (const [i, plan] of plans.entries()) {
      const conn = connections[i]!;
      const save = saves[i]!;
      const nodeDir = join(workDir, plan.node.name);
      mkdirSync(nodeDir, { recursive: true });
      let rdb: BackupFile;
      let aof: RedisMasterBackup['aof'];
      try {
        if (method === 'files') {
          const [dir, dbfilename, appendonly, appenddirname, appendfilename] = await Promise.all(['dir', 'dbfilename', 'appendonly', 'appenddirname', 'appendfilename'].map((k) => configValue(conn, k)));
          if (!existsSync(join(dir!, dbfilename!))) throw new OpsError(`${plan.node.name}: ${join(dir!, dbfilename!)} is not on this machine; use --method remote`);
          // BGSAVE renames the finished file into place, so this copies one complete snapshot even if another save follows.
          copyFileSync(join(dir!, dbfilename!), join(nodeDir, 'dump.rdb'));
          rdb = await describeFile(workDir, join(plan.node.name, 'dump.rdb'));
          if (appendonly === 'yes') {
            const files = await copyAof(join(dir!, appenddirname!), `${appendfilename}.manifest`, join(nodeDir, appenddirname!), workDir, join(plan.node.name, appenddirname!));
            aof = { collected: true, dir: join(plan.node.name, appenddirname!), files };
          } else {
            aof = { collected: false, reason: 'appendonly is off on this node' };
          }
        } else {
          ctx.io.progress('redis-cli --rdb', `${plan.node.name} (${nodeAddress(plan.node)})`);
          await fetchRdb(plan.node, password, join(nodeDir, 'dump.rdb'), opts.timeoutMs);
          rdb = await describeFile(workDir, join(plan.node.name, 'dump.rdb'));
          aof = { collected: false, reason: 'the node files are not reachable from here; the RDB was fetched with redis-cli --rdb, the AOF is not collected' };
        }
      } finally {
        conn.close();
      }
      masters.push({ node: plan.node.name, address: nodeAddress(plan.node), id: plan.id, slots: slotRanges(plan.slots), slotCount: plan.slots.length, lastSave: save.lastSave, bgsaveMs: save.ms, rdb, aof });
    }
    const manifest: RedisBackupManifest = {
      kind: 'numbering/redis-backup',
      version: 1,
      createdAt: now.toISOString(),
      source: ctx.description,
      target: ctx.model.target,
      method: method === 'files' ? 'files' : 'redis-cli --rdb',
      masters,
    };
    writeFileSync(join(workDir, REDIS_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(workDir, finalDir);
    return { dir: finalDir, manifest };
  } catch (e) {
    rmSync(workDir, { recursive: true, force: true });
    throw e;
  }
}

/** Reads and checks a backup's manifest; undefined when the directory is not a Redis backup of ours. */
export function readRedisManifest(dir: string): RedisBackupManifest | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, REDIS_MANIFEST), 'utf8')) as RedisBackupManifest;
    return manifest.kind === 'numbering/redis-backup' && typeof manifest.createdAt === 'string' ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes Redis backups older than `keepDays` (by the manifest's createdAt). Only directories with a
 * manifest of ours are touched, never `keep` (the backup just made), so a wrong --backup-dir deletes nothing else.
 */
export function pruneRedisBackups(backupDir: string, keepDays: number, now: Date, keep: string): string[] {
  if (!existsSync(backupDir)) return [];
  const cutoff = now.getTime() - keepDays * 86_400_000;
  const removed: string[] = [];
  for (const entry of readdirSync(backupDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !/^redis-\d{8}T\d{6}Z(-\d+)?$/.test(entry.name) || entry.name === keep) continue;
    const dir = join(backupDir, entry.name);
    const manifest = readRedisManifest(dir);
    if (!manifest) continue;
    const created = Date.parse(manifest.createdAt);
    if (Number.isFinite(created) && created < cutoff) {
      rmSync(dir, { recursive: true, force: true });
      removed.push(entry.name);
    }
  }
  return removed.sort();
}

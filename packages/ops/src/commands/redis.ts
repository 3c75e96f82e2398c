import { basename } from 'node:path';
import { parseDuration, parsePositiveInt, UsageError, type Command } from '../command.js';
import type { OpsContext } from '../context.js';
import { connectRedisAdmin, humanBytes } from '../redis.js';
import { backupRedis, pruneRedisBackups, type RedisBackupMethod } from '../redis-backup.js';
import { assessCluster, formatAssessment, type NodeObservation } from '../redis-check.js';

/** Asks every node of the model at once; a node that does not answer becomes an `unreachable` observation, not an error. */
async function observeCluster(ctx: OpsContext): Promise<NodeObservation[]> {
  return Promise.all(
    ctx.model.redis.nodes.map(async (node): Promise<NodeObservation> => {
      try {
        const conn = await connectRedisAdmin(ctx, node, 3000);
        try {
          const [clusterInfo, clusterNodes, info] = await Promise.all([conn.text('CLUSTER', 'INFO'), conn.text('CLUSTER', 'NODES'), conn.text('INFO', 'replication', 'memory')]);
          return { node, reachable: true, clusterInfo, clusterNodes, info };
        } finally {
          conn.close();
        }
      } catch (e) {
        const message = (e as Error).message;
        return { node, reachable: false, error: message.startsWith(`${node.name} `) ? message.slice(message.indexOf(': ') + 2) : message };
      }
    }),
  );
}

const redisCheck: Command = {
  name: 'redis check',
  summary: 'Redis Cluster state, slot coverage, node roles and links, memory; exit 1 when not ok',
  async run(ctx) {
    const assessment = assessCluster(await observeCluster(ctx), { replicasPerMaster: ctx.model.redis.replicasPerMaster });
    for (const line of formatAssessment(assessment)) ctx.io.out(line);
    return assessment.problems.length === 0 ? 0 : 1;
  },
};

const backupRedisCommand: Command = {
  name: 'backup redis',
  summary: 'BGSAVE every master, collect RDB + AOF with a slot manifest into <backup-dir>/redis-<time>/',
  help: [
    '  --keep-days N       remove Redis backups older than N days afterwards (default 14)',
    '  --method M          files (copy from each node dir; devstack default) or remote (redis-cli --rdb; no AOF)',
    '  --timeout D         how long one BGSAVE may take, e.g. 10m (default 10m)',
  ].join('\n'),
  options: { 'keep-days': { type: 'string' }, method: { type: 'string' }, timeout: { type: 'string' } },
  async run(ctx, args) {
    const keepDays = parsePositiveInt(args.values['keep-days'] as string | undefined, '--keep-days', 14);
    const method = args.values.method as string | undefined;
    if (method !== undefined && method !== 'files' && method !== 'remote') throw new UsageError(`--method must be files or remote, got ${JSON.stringify(method)}`);
    const timeoutMs = parseDuration((args.values.timeout as string | undefined) ?? '10m', '--timeout');
    const started = Date.now();
    const { dir, manifest } = await backupRedis(ctx, { ...(method ? { method: method as RedisBackupMethod } : {}), timeoutMs });
    ctx.io.out(`redis backup ${dir} (${manifest.method}, ${Date.now() - started} ms)`);
    for (const m of manifest.masters) {
      const aof = m.aof.collected ? `AOF ${m.aof.files.length} files ${humanBytes(m.aof.files.reduce((n, f) => n + f.bytes, 0))}` : `AOF not collected: ${m.aof.reason}`;
      ctx.io.out(`  ${m.node} ${m.address} slots ${m.slots} (${m.slotCount}): RDB ${humanBytes(m.rdb.bytes)} (BGSAVE ${m.bgsaveMs} ms), ${aof}`);
    }
    const removed = pruneRedisBackups(ctx.backupDir, keepDays, ctx.now(), basename(dir));
    if (removed.length) ctx.io.out(`removed ${removed.length} Redis backup(s) older than ${keepDays} days: ${removed.join(', ')}`);
    return 0;
  },
};

export const redisCommands: Command[] = [redisCheck, backupRedisCommand];

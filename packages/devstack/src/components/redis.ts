import { createRedisCluster, redisAdminCall, redisClusterUnhealthyReason, redisServerSpec, writeRedisConfigs } from '../daemons/redis.js';
import { waitFor } from '../process.js';
import { programFrom } from './program.js';
import type { Component, StackContext } from './types.js';

const infoField = (info: string, field: string) => new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();

/** True when no node has joined a cluster or owns a slot yet: only then may `--cluster create` run (a restart keeps the data). */
async function clusterIsFresh(ctx: StackContext): Promise<boolean> {
  const infos = await Promise.all(ctx.model.redis.nodes.map(async (n) => String((await redisAdminCall(n, ctx.secrets, [['CLUSTER', 'INFO']]))[0])));
  return infos.every((i) => infoField(i, 'cluster_known_nodes') === '1' && infoField(i, 'cluster_slots_assigned') === '0');
}

async function waitClusterHealthy(ctx: StackContext, timeoutMs: number): Promise<void> {
  let reason: string | undefined = 'not checked yet';
  await waitFor('the Redis cluster to become healthy', async () => (reason = await redisClusterUnhealthyReason(ctx.model, ctx.secrets, ctx.model.redis.nodes)) === undefined, { timeoutMs, intervalMs: 200 }).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; last state: ${reason}`);
  });
}

export const redisComponent: Component = {
  name: 'redis',
  prepare: async (ctx) => writeRedisConfigs(ctx.model, ctx.secrets),
  // redis-server may ignore a TERM while it writes its initial AOF; supervisord SIGKILLs after stopwaitsecs.
  programs: (ctx) => ctx.model.redis.nodes.map((n) => programFrom(redisServerSpec(n), 'redis', { stopWaitSecs: 30 })),
  async waitReady(ctx) {
    for (const n of ctx.model.redis.nodes) {
      await waitFor(`${n.name} to answer PING on ${n.host}:${n.port}`, async () => (await redisAdminCall(n, ctx.secrets, [['PING']]))[0] === 'PONG', { timeoutMs: 20_000, logFile: n.logfile });
    }
  },
  async initialize(ctx) {
    if (await clusterIsFresh(ctx)) await createRedisCluster(ctx.model, ctx.secrets);
    await waitClusterHealthy(ctx, 60_000);
  },
  async health(ctx) {
    const reason = await redisClusterUnhealthyReason(ctx.model, ctx.secrets, ctx.model.redis.nodes).catch((e: Error) => e.message);
    const r = ctx.model.redis;
    return [{ name: 'redis cluster', ok: reason === undefined, detail: reason ?? `${r.nodes.length} nodes, ${r.masters} masters, all slots covered` }];
  },
};

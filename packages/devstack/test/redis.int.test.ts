import { Cluster, type ClusterOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, redisAdminCall, sleep, startRedisCluster, waitFor, type RedisClusterHandle, type Testbed } from '../src/index.js';

/**
 * A real 3+3 Redis Cluster from the rendered configs: an ioredis Cluster client as the ACL `app` user,
 * kill -9 of a master while clients write, the replica's takeover, the old master's return, and a full
 * restart that keeps the data. Failover times are printed, not asserted.
 */

/**
 * What the numbering service needs for the `app` ACL user and for a failover without failed commands:
 * credentials in redisOptions (every node connection authenticates), and a retry budget longer than a
 * failover (cluster-node-timeout 2000 ms -> ~3.5 s): retryDelayOnFailover x maxRedirections = 16 s.
 */
const clientOptions = (bed: Testbed): ClusterOptions => ({
  redisOptions: { username: 'app', password: bed.secrets.redis.app },
  retryDelayOnFailover: 500,
  maxRedirections: 32,
});

let bed: Testbed;
let cluster: RedisClusterHandle;
const clients: Cluster[] = [];

function appClient(options: ClusterOptions = clientOptions(bed)): Cluster {
  const client = new Cluster(
    bed.model.redis.nodes.map((n) => ({ host: n.host, port: n.port })),
    options,
  );
  client.on('error', () => {});
  clients.push(client);
  return client;
}

const admin = (name: string, ...command: string[]) =>
  redisAdminCall(bed.model.redis.nodes.find((n) => n.name === name)!, bed.secrets, [command]).then(([r]) => String(r));

/** Writers that keep going through ioredis; counts failures and the longest single command. */
function startWriters(client: Cluster, workers = 4) {
  const stats = { ok: 0, errors: 0, maxStallMs: 0, messages: new Map<string, number>() };
  let running = true;
  const done = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      let i = 0;
      while (running) {
        const started = Date.now();
        try {
          await client.set(`writer:${w}:${i++ % 100}`, String(started));
          stats.ok++;
        } catch (e) {
          stats.errors++;
          const message = (e as Error).message.slice(0, 80);
          stats.messages.set(message, (stats.messages.get(message) ?? 0) + 1);
        }
        stats.maxStallMs = Math.max(stats.maxStallMs, Date.now() - started);
      }
    }),
  );
  return {
    stats,
    async stop() {
      running = false;
      await done;
      return stats;
    },
  };
}

beforeAll(async () => {
  bed = await createTestbed({ 'redis.nodeTimeoutMs': 2000 });
  const t0 = Date.now();
  cluster = await startRedisCluster(bed.model, bed.secrets);
  console.log(`[redis] 6 nodes started, cluster created and synced in ${Date.now() - t0} ms`);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
  bed?.dispose();
});

describe('startRedisCluster', () => {
  it('starts 3 masters and 3 replicas, all healthy', async () => {
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const replicas = cluster.nodes.map((n) => n.name).filter((n) => !masters.includes(n));
    for (const name of replicas) expect(await admin(name, 'INFO', 'replication')).toContain('master_link_status:up');
    await cluster.waitHealthy(5000);
  });

  it('serves an ioredis Cluster client as the app user without any ACL denial', async () => {
    await Promise.all(cluster.nodes.map((n) => admin(n.name, 'ACL', 'LOG', 'RESET')));
    const client = appClient();
    for (let i = 0; i < 200; i++) await client.set(`k:${i}`, String(i));
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => client.get(`k:${i}`)));
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    expect(await client.incr('counter:{a}')).toBe(1);
    expect(await client.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, 'counter:{a}', '5')).toBe(6);
    await expect(client.flushall()).rejects.toThrow(/NOPERM/);
    // ACL LOG: one entry per denial, each a flat [field, value, ...] list; `object` is the denied command.
    const logs = await Promise.all(cluster.nodes.map((n) => redisAdminCall(n, bed.secrets, [['ACL', 'LOG']]).then(([r]) => r as unknown[][])));
    const denied = logs.flat().map((entry) => {
      const fields = new Map<string, unknown>();
      for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
      return `${String(fields.get('username'))}:${String(fields.get('object'))}`;
    });
    // flushall is the one denial we caused on purpose; nothing the client itself needs may be denied.
    expect(denied).toEqual(['app:flushall']);
  });

  it('fails over when a master is killed -9, without failed commands, and the old master rejoins as a replica', async () => {
    const client = appClient();
    await client.set('before-failover', 'kept');
    const writers = startWriters(client);
    await sleep(1000);

    const [victim] = await cluster.masters();
    const t0 = Date.now();
    await cluster.kill(victim!);
    let promotedMs = 0;
    await waitFor(
      `a replica of ${victim} to take over`,
      async () => {
        const masters = await cluster.masters();
        if (masters.length === 3 && !masters.includes(victim!)) promotedMs ||= Date.now() - t0;
        return promotedMs > 0;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    await cluster.waitHealthy(60_000);
    const healthyMs = Date.now() - t0;
    await sleep(1000);
    const stats = await writers.stop();
    console.log(
      `[redis] kill -9 ${victim}: replica promoted after ${promotedMs} ms, cluster healthy after ${healthyMs} ms; ` +
        `client: ${stats.ok} writes ok, ${stats.errors} failed, longest stall ${stats.maxStallMs} ms ${JSON.stringify([...stats.messages])}`,
    );
    expect(stats.errors, JSON.stringify([...stats.messages])).toBe(0);
    expect(stats.maxStallMs).toBeGreaterThan(0);
    expect(await client.get('before-failover')).toBe('kept');

    const t1 = Date.now();
    await cluster.start(victim!);
    await cluster.waitHealthy(60_000);
    console.log(`[redis] ${victim} restarted and rejoined (replica in sync) after ${Date.now() - t1} ms`);
    expect(await cluster.masters()).not.toContain(victim);
    const replication = await admin(victim!, 'INFO', 'replication');
    expect(replication).toContain('role:slave');
    expect(replication).toContain('master_link_status:up');
  });

  it('keeps its data and topology across a full stop and start', async () => {
    const client = appClient();
    await client.set('across-restart', 'yes');
    const mastersBefore = await cluster.masters();
    for (const c of clients.splice(0)) c.disconnect();
    await cluster.stop();
    const t0 = Date.now();
    cluster = await startRedisCluster(bed.model, bed.secrets);
    console.log(`[redis] restart of all 6 nodes on existing data: healthy after ${Date.now() - t0} ms`);
    expect(await cluster.masters()).toEqual(mastersBefore);
    const again = appClient();
    expect(await again.get('across-restart')).toBe('yes');
    expect(await again.get('k:199')).toBe('199');
  });
});

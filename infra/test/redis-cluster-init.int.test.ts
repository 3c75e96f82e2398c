import { redisClusterCreateArgs, type RedisNode } from '@numbering/blueprint';
import { createTestbed, redisAdminCall, redisConfPath, run, startDaemon, waitFor, writeRedisConfigs, type DaemonProcess, type Testbed } from '@numbering/devstack';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_CLUSTER_INIT_NAME, REDIS_CLUSTER_INIT_SCRIPT } from '../src/shared/redis-cluster-init.js';

// The script the Docker one-shot container and the Kubernetes Job run, against six real redis-server
// processes (the version the redis image pins). Node addresses are given as host names, as the model
// gives them on Docker and Kubernetes, so the script's resolution to IPs is exercised.
let tb: Testbed;
const daemons: DaemonProcess[] = [];

const clusterState = async (node: RedisNode) => /cluster_state:(\w+)/.exec(String((await redisAdminCall(node, tb.secrets, [['CLUSTER', 'INFO']]))[0]))?.[1];
const initScript = (args: string[]) => run('sh', ['-c', REDIS_CLUSTER_INIT_SCRIPT, REDIS_CLUSTER_INIT_NAME, ...args], { timeoutMs: 120_000 });
const byHostName = (args: string[]) => args.map((a) => a.replace(/^127\.0\.0\.1:/, 'localhost:'));

beforeAll(async () => {
  tb = await createTestbed();
  writeRedisConfigs(tb.model, tb.secrets);
  for (const node of tb.model.redis.nodes) {
    daemons.push(startDaemon({ name: node.name, command: 'redis-server', args: [redisConfPath(node)], logFile: join(node.dir, 'redis-server.out'), cwd: node.dir }));
  }
  for (const node of tb.model.redis.nodes) {
    await waitFor(`${node.name} answers`, async () => (await redisAdminCall(node, tb.secrets, [['PING']]).catch(() => ['']))[0] === 'PONG', { timeoutMs: 20_000, logFile: node.logfile });
  }
}, 60_000);

afterAll(async () => {
  for (const d of daemons) if (d.alive()) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => d.exited));
  tb?.dispose();
}, 30_000);

describe('the Redis cluster-init one-shot', () => {
  it('resolves the node names, forms the cluster, and every node reports cluster_state:ok', async () => {
    const args = byHostName(redisClusterCreateArgs(tb.model, tb.secrets));
    expect(args.some((a) => a.startsWith('localhost:'))).toBe(true);
    const result = await initScript(args);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`localhost:${tb.model.redis.nodes[0]!.port} is 127.0.0.1:${tb.model.redis.nodes[0]!.port}`);
    expect(result.stdout).toContain('[OK] All 16384 slots covered');
    for (const node of tb.model.redis.nodes) {
      await waitFor(`${node.name} cluster_state:ok`, async () => (await clusterState(node)) === 'ok', { timeoutMs: 30_000 });
    }
  }, 120_000);

  it('is safe to run again: nodes that already form a cluster count as done', async () => {
    const result = await initScript(byHostName(redisClusterCreateArgs(tb.model, tb.secrets)));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('already form a cluster');
    expect(await clusterState(tb.model.redis.nodes[0]!)).toBe('ok');
  }, 120_000);

  it('fails (non-zero) with a wrong admin password instead of reporting success', async () => {
    const args = byHostName(redisClusterCreateArgs(tb.model, { ...tb.secrets, redis: { ...tb.secrets.redis, admin: 'not-the-password' } }));
    const result = await initScript(args);
    expect(result.code).not.toBe(0);
  }, 120_000);
});

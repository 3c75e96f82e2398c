import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The devstack depends on the blueprint, so the blueprint's tests reach its helpers by path (same source code).
import { redisConfPath, startRedisCluster, type RedisClusterHandle } from '../../devstack/src/daemons/redis.js';
import { run, startDaemon, waitFor, type DaemonProcess } from '../../devstack/src/process.js';
import { createTestbed, type Testbed } from '../../devstack/src/testbed.js';
import { renderRedisAcl, renderRedisConf, type RedisNode } from '../src/index.js';

/**
 * The rendered redis.conf and users.acl, run by the real redis-server 7.0: six nodes started from the
 * rendered files, the cluster created with the rendered redis-cli arguments (both by the devstack's
 * startRedisCluster), then the ACL checked command by command with redis-cli.
 */

let bed: Testbed;
let cluster: RedisClusterHandle;
const daemons: DaemonProcess[] = [];

type User = 'admin' | 'app' | 'repl' | 'exporter' | 'none';

/** One redis-cli command as `user` (cluster mode with -c); stdout+stderr, since redis-cli prints error replies on stdout. */
async function cli(node: RedisNode, user: User, ...command: string[]): Promise<string> {
  const s = bed.secrets.redis;
  const pw = { admin: s.admin, app: s.app, repl: s.replication, exporter: s.exporter, none: '' }[user];
  const auth = user === 'none' ? [] : ['--user', user, '--pass', pw, '--no-auth-warning'];
  const r = await run('redis-cli', ['-c', '-h', node.host, '-p', String(node.port), ...auth, ...command], { timeoutMs: 10_000 });
  return (r.stdout + r.stderr).trim();
}

const node0 = () => bed.model.redis.nodes[0]!;

beforeAll(async () => {
  bed = await createTestbed({ 'redis.nodeTimeoutMs': 2000, 'redis.maxmemoryMb': 64 });
  cluster = await startRedisCluster(bed.model, bed.secrets);
});

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGTERM', 10_000)));
  await cluster?.stop();
  bed?.dispose();
});

describe('rendered Redis Cluster on real redis-server', () => {
  it('forms a healthy cluster of 3 masters and 3 replicas', async () => {
    const info = await cli(node0(), 'admin', 'CLUSTER', 'INFO');
    expect(info).toContain('cluster_state:ok');
    expect(info).toContain('cluster_slots_assigned:16384');
    expect(info).toContain('cluster_known_nodes:6');
    const nodes = (await cli(node0(), 'admin', 'CLUSTER', 'NODES')).split('\n');
    expect(nodes.filter((l) => /[ ,]master /.test(l) || / (myself,)?master /.test(l))).toHaveLength(3);
    expect(nodes.filter((l) => / (myself,)?slave /.test(l))).toHaveLength(3);
  });

  it('replicates through the repl user: every replica link is up', async () => {
    const roles = await Promise.all(bed.model.redis.nodes.map((n) => cli(n, 'admin', 'INFO', 'replication')));
    const replicas = roles.filter((r) => r.includes('role:slave'));
    expect(replicas).toHaveLength(3);
    for (const r of replicas) expect(r).toContain('master_link_status:up');
  });

  it('persists with AOF (appendonlydir) and RDB save rules, never evicts', async () => {
    const node = node0();
    expect(await cli(node, 'app', 'SET', 'persist-check', '1')).toBe('OK');
    const master = bed.model.redis.nodes.find((n) => existsSync(join(n.dir, 'appendonlydir')));
    expect(master, 'an appendonlydir in some node dir').toBeDefined();
    for (const n of bed.model.redis.nodes) expect(existsSync(join(n.dir, 'appendonlydir')), n.name).toBe(true);
    expect(await cli(node, 'admin', 'CONFIG', 'GET', 'appendonly')).toBe('appendonly\nyes');
    expect(await cli(node, 'admin', 'CONFIG', 'GET', 'appendfsync')).toBe(`appendfsync\n${bed.model.redis.appendfsync}`);
    expect(await cli(node, 'admin', 'CONFIG', 'GET', 'save')).toBe('save\n3600 1 300 100 60 10000');
    expect(await cli(node, 'admin', 'CONFIG', 'GET', 'maxmemory')).toBe(`maxmemory\n${64 * 1024 * 1024}`);
    expect(await cli(node, 'admin', 'CONFIG', 'GET', 'maxmemory-policy')).toBe('maxmemory-policy\nnoeviction');
  });

  it('lets the app user read and write keys on any slot', async () => {
    for (const key of ['a', 'b', 'c', 'numbering:counter:{x}']) {
      expect(await cli(node0(), 'app', 'SET', key, `v-${key}`)).toBe('OK');
      expect(await cli(node0(), 'app', 'GET', key)).toBe(`v-${key}`);
    }
    expect(await cli(node0(), 'app', 'INFO', 'server')).toContain('redis_version:');
  });

  it.each([['FLUSHALL'], ['FLUSHDB'], ['KEYS', '*'], ['CONFIG', 'SET', 'maxmemory', '0'], ['CONFIG', 'GET', 'masterauth'], ['SHUTDOWN', 'NOSAVE'], ['MONITOR']])(
    'denies the app user %s with NOPERM',
    async (...command) => {
      expect(await cli(node0(), 'app', ...command)).toMatch(/NOPERM/);
    },
  );

  it('refuses DEBUG to everyone, admin included (enable-debug-command no)', async () => {
    expect(await cli(node0(), 'app', 'DEBUG', 'SLEEP', '0')).toMatch(/DEBUG command not allowed/);
    expect(await cli(node0(), 'admin', 'DEBUG', 'SLEEP', '0')).toMatch(/DEBUG command not allowed/);
  });

  it('refuses unauthenticated clients with NOAUTH and keeps the default user off', async () => {
    expect(await cli(node0(), 'none', 'PING')).toMatch(/NOAUTH/);
    expect(await cli(node0(), 'none', 'GET', 'a')).toMatch(/NOAUTH/);
    const getuser = await cli(node0(), 'admin', 'ACL', 'GETUSER', 'default');
    expect(getuser).toMatch(/flags\n(.*\n)*?off/);
    expect(await cli(node0(), 'none', 'AUTH', 'default', '')).toMatch(/WRONGPASS|invalid/i);
  });

  it('lets the exporter read INFO but neither write, read keys nor read CONFIG (masterauth)', async () => {
    expect(await cli(node0(), 'exporter', 'INFO', 'replication')).toContain('role:');
    expect(await cli(node0(), 'exporter', 'CLUSTER', 'INFO')).toContain('cluster_state:ok');
    expect(await cli(node0(), 'exporter', 'SET', 'x', '1')).toMatch(/NOPERM/);
    expect(await cli(node0(), 'exporter', 'GET', 'a')).toMatch(/NOPERM/);
    expect(await cli(node0(), 'exporter', 'CONFIG', 'GET', 'masterauth')).toMatch(/NOPERM/);
  });

  it('lets the repl user do nothing but sync', async () => {
    expect(await cli(node0(), 'repl', 'PING')).toBe('PONG');
    expect(await cli(node0(), 'repl', 'GET', 'a')).toMatch(/NOPERM/);
    expect(await cli(node0(), 'repl', 'INFO')).toMatch(/NOPERM/);
  });

  it('serves prometheus-redis-exporter as the exporter user without ACL denials', async () => {
    const { model, secrets } = bed;
    await cli(node0(), 'admin', 'ACL', 'LOG', 'RESET');
    const exporter = startDaemon({
      name: 'redis-exporter',
      command: 'prometheus-redis-exporter',
      args: [`-redis.addr=redis://${node0().host}:${node0().port}`, `-web.listen-address=${model.redis.exporter.host}:${model.redis.exporter.port}`, '-config-command=-'],
      env: { REDIS_USER: 'exporter', REDIS_PASSWORD: secrets.redis.exporter },
      logFile: join(bed.workdir, 'redis-exporter.out'),
    });
    daemons.push(exporter);
    let metrics = '';
    await waitFor(
      'redis-exporter metrics',
      async () => {
        const res = await fetch(`http://${model.redis.exporter.host}:${model.redis.exporter.port}/metrics`);
        metrics = await res.text();
        return res.ok && /^redis_up 1$/m.test(metrics);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(metrics).toMatch(/^redis_cluster_state 1$/m);
    expect(metrics).toMatch(/^redis_connected_slaves/m);
    const log = await cli(node0(), 'admin', 'ACL', 'LOG');
    expect(log, 'ACL LOG after an exporter scrape').not.toMatch(/exporter/);
    await exporter.stop();
  });
});

describe('the harness notices a broken rendering', () => {
  /** A replica, so taking it down does not move any slot. */
  async function replica(): Promise<RedisNode> {
    const masters = await cluster.masters();
    return bed.model.redis.nodes.find((n) => !masters.includes(n.name))!;
  }

  it('a bogus directive in redis.conf keeps the node from starting', async () => {
    const node = await replica();
    await cluster.kill(node.name, 'SIGTERM');
    writeFileSync(redisConfPath(node), `${renderRedisConf(bed.model, node, bed.secrets)}appendfsnyc everysec\n`);
    await expect(cluster.start(node.name)).rejects.toThrow(/Bad directive or wrong number of arguments/);
    writeFileSync(redisConfPath(node), renderRedisConf(bed.model, node, bed.secrets));
    await cluster.start(node.name);
    await cluster.waitHealthy(60_000);
  });

  it('a comment line in users.acl (ACL files have no comment syntax) keeps the node from starting', async () => {
    const node = await replica();
    await cluster.kill(node.name, 'SIGTERM');
    writeFileSync(bed.model.redis.aclFile, `# users\n${renderRedisAcl(bed.model, bed.secrets)}`);
    await expect(cluster.start(node.name)).rejects.toThrow(/exited/);
    writeFileSync(bed.model.redis.aclFile, renderRedisAcl(bed.model, bed.secrets));
    await cluster.start(node.name);
    await cluster.waitHealthy(60_000);
  });
});

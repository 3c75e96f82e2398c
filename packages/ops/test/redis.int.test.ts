import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, startDaemon, startRedisCluster, waitFor, type DaemonProcess, type RedisClusterHandle, type Testbed } from '@numbering/devstack';
import { contextFrom, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { REDIS_MANIFEST, type RedisBackupManifest } from '../src/redis-backup.js';

/**
 * `ops redis check` and `ops backup redis` against a real 3+3 Redis Cluster (the devstack's daemon
 * harness): check passes healthy and fails, naming the problem, with a master stopped; a backup has an
 * RDB and an AOF for every master, and both load into a throwaway redis-server with every key.
 */

let bed: Testbed;
let cluster: RedisClusterHandle | undefined;
const throwaways: DaemonProcess[] = [];


async function ops(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: OpsIo = { out: (l) => out.push(l), err: (l) => err.push(l), confirm: async () => false, progress: () => undefined };
  const context = () => contextFrom({ model: bed.model, secrets: bed.secrets, workdir: bed.workdir, backupDir: join(bed.workdir, 'backups'), io, assumeYes: true });
  const code = await main(argv, io, { context });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A standalone redis-server (no cluster, no ACL) on a copy of backed-up files; returns its key count. */
async function loadInThrowaway(dir: string, args: string[]): Promise<number> {
  const port = await freePort();
  const server = startDaemon({ name: `throwaway-${port}`, command: 'redis-server', args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...args], logFile: join(dir, 'throwaway.log'), cwd: dir });
  throwaways.push(server);
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await waitFor(`throwaway redis-server on ${port} to load ${dir}`, async () => {
      if (!server.alive()) throw new Error(`throwaway redis-server exited: ${readFileSync(join(dir, 'throwaway.log'), 'utf8')}`);
      try {
        if (client.status !== 'ready') await client.connect();
        return (await client.call('PING')) === 'PONG';
      } catch {
        client.disconnect();
        return false;
      }
    }, { timeoutMs: 20_000, intervalMs: 50 });
    return Number(await client.dbsize());
  } finally {
    client.disconnect();
    await server.stop('SIGTERM', 5000);
  }
}

const KEYS = 600;

describe('ops redis check / backup redis on a real Redis Cluster', () => {
  beforeAll(async () => {
    bed = await createTestbed();
    const t0 = Date.now();
    cluster = await startRedisCluster(bed.model, bed.secrets);
    console.log(`[ops redis] 3+3 cluster up in ${Date.now() - t0} ms`);
    const client = new Cluster(bed.model.redis.nodes.map((n) => ({ host: n.host, port: n.port })), { redisOptions: { username: 'app', password: bed.secrets.redis.app } });
    client.on('error', () => undefined);
    try {
      for (let i = 0; i < KEYS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => client.set(`backup:key:${i + j}`, `value-${i + j}`)));
    } finally {
      client.disconnect();
    }
  });

  afterAll(async () => {
    for (const t of throwaways) if (t.alive()) await t.stop('SIGKILL', 2000);
    await cluster?.stop();
    bed?.dispose();
  });

  it('check passes on a healthy cluster and prints every node role', async () => {
    const r = await ops('redis', 'check');
    console.log(`[ops redis] check (healthy):\n${r.out}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('cluster_state: ok; 16384/16384 slots');
    expect(r.out.match(/ master +- +- /g)).toHaveLength(3);
    expect(r.out.match(/ replica +redis-\d +up /g)).toHaveLength(3);
    expect(r.out).toContain('ok: every slot served');
  });

  it('backs up RDB + AOF of every master with the slots each served; both load with every key', async () => {
    const t0 = Date.now();
    const r = await ops('backup', 'redis', '--keep-days', '7');
    console.log(`[ops redis] backup (files) in ${Date.now() - t0} ms:\n${r.out}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const dir = /^redis backup (\S+)/.exec(r.out)?.[1];
    expect(dir).toBeDefined();
    const manifest = JSON.parse(readFileSync(join(dir!, REDIS_MANIFEST), 'utf8')) as RedisBackupManifest;
    expect(manifest.method).toBe('files');
    const masters = await cluster!.masters();
    expect(manifest.masters.map((m) => m.node).sort()).toEqual(masters);
    expect(manifest.masters.reduce((n, m) => n + m.slotCount, 0)).toBe(16_384);

    let fromRdb = 0;
    let fromAof = 0;
    for (const m of manifest.masters) {
      const rdb = join(dir!, m.rdb.file);
      expect(statSync(rdb).size).toBe(m.rdb.bytes);
      const check = spawnSync('redis-check-rdb', [rdb], { encoding: 'utf8' });
      expect(check.stdout).toContain('RDB looks OK');
      expect(m.aof.collected).toBe(true);
      if (!m.aof.collected) continue;
      expect(m.aof.files.map((f) => f.file).some((f) => f.endsWith('.manifest'))).toBe(true);
      const aofDir = join(dir!, m.aof.dir);
      const aofCheck = spawnSync('redis-check-aof', [join(aofDir, readdirSync(aofDir).find((f) => f.endsWith('.manifest'))!)], { encoding: 'utf8' });
      expect(aofCheck.stdout).toContain('All AOF files and manifest are valid');

      // Load copies (the backup itself stays untouched): the RDB alone, then the AOF alone.
      const rdbCopy = join(bed.workdir, 'load', m.node, 'rdb');
      mkdirSync(rdbCopy, { recursive: true });
      cpSync(rdb, join(rdbCopy, 'dump.rdb'));
      fromRdb += await loadInThrowaway(rdbCopy, ['--appendonly', 'no', '--dbfilename', 'dump.rdb']);
      const aofCopy = join(bed.workdir, 'load', m.node, 'aof');
      cpSync(aofDir, join(aofCopy, 'appendonlydir'), { recursive: true });
      fromAof += await loadInThrowaway(aofCopy, ['--appendonly', 'yes', '--appenddirname', 'appendonlydir']);
    }
    console.log(`[ops redis] keys loaded back: ${fromRdb} from the RDBs, ${fromAof} from the AOFs (written ${KEYS})`);
    expect(fromRdb).toBe(KEYS);
    expect(fromAof).toBe(KEYS);
  });

  it('fetches RDBs over the network with redis-cli --rdb when files are not reachable (no AOF)', async () => {
    const r = await ops('backup', 'redis', '--method', 'remote');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const dir = /^redis backup (\S+)/.exec(r.out)?.[1] ?? '';
    const manifest = JSON.parse(readFileSync(join(dir, REDIS_MANIFEST), 'utf8')) as RedisBackupManifest;
    expect(manifest.method).toBe('redis-cli --rdb');
    for (const m of manifest.masters) {
      expect(m.aof).toMatchObject({ collected: false, reason: expect.stringContaining('AOF is not collected') });
      expect(spawnSync('redis-check-rdb', [join(dir, m.rdb.file)], { encoding: 'utf8' }).stdout).toContain('RDB looks OK');
    }
    expect(r.out).toContain('AOF not collected');
  });

  it('check fails clearly with a stopped master, before and after its replica takes over; backup refuses an incomplete cluster', async () => {
    const victim = (await cluster!.masters())[0]!;
    await cluster!.kill(victim, 'SIGTERM');
    const down = await ops('redis', 'check');
    console.log(`[ops redis] check with ${victim} stopped:\n${down.out}`);
    expect(down.code).toBe(1);
    expect(down.out).toMatch(new RegExp(`${victim} \\(127\\.0\\.0\\.1:\\d+\\) is unreachable`));
    expect(down.out).toMatch(/NOT OK: \d+ problems?/);

    // Until a replica takes over, the victim's slots have no reachable master: no partial backup.
    const backup = await ops('backup', 'redis');
    expect(backup.code).toBe(1);
    expect(backup.err).toMatch(new RegExp(`cannot reach every master: ${victim} .*ECONNREFUSED|does not serve \\d+ slots`));

    await waitFor('the replica to take over', async () => !(await cluster!.masters()).includes(victim), { timeoutMs: 30_000, intervalMs: 200 });
    await waitFor('every slot served again', async () => (await ops('redis', 'check')).out.includes('16384/16384 slots'), { timeoutMs: 30_000, intervalMs: 200 });
    const promoted = await ops('redis', 'check');
    console.log(`[ops redis] check after failover:\n${promoted.out}`);
    expect(promoted.code).toBe(1);
    expect(promoted.out).toMatch(/master redis-\d \(slots [\d,-]+\) has no live replica/);

    await cluster!.start(victim);
    await cluster!.waitHealthy(60_000);
    const healed = await ops('redis', 'check');
    expect(healed.out).toContain(`${victim} `);
    expect(healed.code).toBe(0);
  });

  it('keeps the backup directory free of partial backups', () => {
    const root = join(bed.workdir, 'backups');
    expect(existsSync(root)).toBe(true);
    expect(readdirSync(root).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, type RedisNode } from '@numbering/blueprint';
import { modelNodeOf, parseInfo, slotRanges, slotsOf } from '../src/redis.js';
import { assessCluster, formatAssessment, type NodeObservation } from '../src/redis-check.js';
import { parseAofManifest, pruneRedisBackups, redisBackupName, REDIS_MANIFEST } from '../src/redis-backup.js';

const model = buildPlatform(defaultPlatformConfig('local'), { workdir: '/srv/devstack' });
const nodes = model.redis.nodes;
const id = (i: number) => `${String(i).repeat(8)}${'a'.repeat(32)}`;
const node = (i: number) => nodes[i]!;

/** CLUSTER NODES of the default 3+3 layout: redis-0..2 masters, redis-3..5 their replicas. */
function clusterNodes(opts: { myself: number; flags?: Record<number, string>; masterOf?: Record<number, number>; slots?: Record<number, string> } = { myself: 0 }): string {
  const slots = opts.slots ?? { 0: '0-5460', 1: '5461-10922', 2: '10923-16383' };
  const masterOf = opts.masterOf ?? { 3: 0, 4: 1, 5: 2 };
  return nodes
    .map((n, i) => {
      const role = masterOf[i] === undefined ? 'master' : 'slave';
      const flags = [...(i === opts.myself ? ['myself'] : []), role, ...(opts.flags?.[i] ? [opts.flags[i]] : [])].join(',');
      const master = masterOf[i] === undefined ? '-' : id(masterOf[i]!);
      return `${id(i)} ${n.host}:${n.port}@${n.busPort} ${flags} ${master} 0 0 ${i} connected${role === 'master' && slots[i] ? ` ${slots[i]}` : ''}`;
    })
    .join('\n');
}

function info(role: 'master' | 'slave', opts: { masterPort?: number; link?: string; used?: number; max?: number } = {}): string {
  return [
    '# Replication',
    `role:${role}`,
    ...(role === 'slave' ? [`master_host:127.0.0.1`, `master_port:${opts.masterPort}`, `master_link_status:${opts.link ?? 'up'}`] : ['connected_slaves:1']),
    '# Memory',
    `used_memory:${opts.used ?? 2_000_000}`,
    `maxmemory:${opts.max ?? 256 * 1024 * 1024}`,
  ].join('\r\n');
}

const healthy = (overrides: Partial<Record<number, NodeObservation>> = {}, view = (myself: number) => clusterNodes({ myself })): NodeObservation[] =>
  nodes.map((n, i) => overrides[i] ?? { node: n, reachable: true, clusterInfo: 'cluster_state:ok\r\ncluster_slots_ok:16384', clusterNodes: view(i), info: i < 3 ? info('master') : info('slave', { masterPort: node(i - 3).port }) });

describe('slot and INFO parsing', () => {
  it('expands slot fields, skips migration markers, and prints ranges back', () => {
    expect(slotsOf(['0-3', '7', '[8->-abc]', '[9-<-def]'])).toEqual([0, 1, 2, 3, 7]);
    expect(slotRanges([5, 0, 1, 2, 7, 8, 2])).toBe('0-2,5,7-8');
    expect(slotRanges([])).toBe('');
  });

  it('reads INFO fields across sections and CRLF line ends', () => {
    const fields = parseInfo('# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\r\n# Memory\r\nused_memory:123\r\n');
    expect(fields.get('role')).toBe('slave');
    expect(fields.get('used_memory')).toBe('123');
  });

  it('maps CLUSTER NODES entries to model nodes by port, or by announced hostname in containers', () => {
    expect(modelNodeOf(nodes, { port: node(4).port, hostname: '' })?.name).toBe('redis-4');
    const k8s = buildPlatform(defaultPlatformConfig('kubernetes')).redis.nodes;
    expect(modelNodeOf(k8s, { port: 6379, hostname: k8s[2]!.announceHostname })?.name).toBe('redis-2');
    expect(modelNodeOf(k8s, { port: 6379, hostname: 'elsewhere' })).toBeUndefined();
  });
});

describe('assessCluster (ops redis check)', () => {
  it('passes a healthy 3+3 cluster and reports roles, followed masters, links and memory', () => {
    const a = assessCluster(healthy(), { replicasPerMaster: 1 });
    expect(a.problems).toEqual([]);
    expect(a.state).toBe('ok');
    expect(a.coveredSlots).toBe(16_384);
    expect(a.rows.map((r) => [r.name, r.role, r.follows ?? '-', r.link ?? '-', r.slotCount])).toEqual([
      ['redis-0', 'master', '-', '-', 5461],
      ['redis-1', 'master', '-', '-', 5462],
      ['redis-2', 'master', '-', '-', 5461],
      ['redis-3', 'replica', 'redis-0', 'up', 0],
      ['redis-4', 'replica', 'redis-1', 'up', 0],
      ['redis-5', 'replica', 'redis-2', 'up', 0],
    ]);
    const text = formatAssessment(a).join('\n');
    expect(text).toContain('16384/16384 slots');
    expect(text).toMatch(/redis-0 +127\.0\.0\.1:\d+ +master +- +- +0-5460 \(5461\) +1\.9 MiB \/ 256\.0 MiB \(0\.7%\)/);
    expect(text).toContain('ok: every slot served');
  });

  it('fails on a stopped master: unreachable, marked fail, its slots unserved and its replica link down', () => {
    const view = (myself: number) => clusterNodes({ myself, flags: { 1: 'fail' } });
    const a = assessCluster(
      healthy({ 1: { node: node(1), reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:7002' }, 4: { node: node(4), reachable: true, clusterInfo: 'cluster_state:fail', clusterNodes: view(4), info: info('slave', { masterPort: node(1).port, link: 'down' }) } }, view),
      { replicasPerMaster: 1 },
    );
    expect(a.state).toBe('fail');
    expect(a.problems).toEqual(
      expect.arrayContaining([
        `redis-1 (127.0.0.1:${node(1).port}) is unreachable: connect ECONNREFUSED 127.0.0.1:7002`,
        'redis-4 reports cluster_state:fail',
        '5462 of 16384 slots are not served by a live master: 5461-10922',
        'redis-0 marks redis-1 as fail',
        'replica redis-4 of redis-1: master_link_status is down',
      ]),
    );
    expect(a.rows[1]).toMatchObject({ role: 'unreachable', viewRole: 'master,fail' });
    expect(formatAssessment(a).join('\n')).toMatch(/NOT OK: 5 problems/);
  });

  it('fails when a promoted master has no replica left (after a failover)', () => {
    // redis-4 took over redis-1's slots; redis-1 is down and marked fail, so nobody replicates redis-4.
    const view = (myself: number) => clusterNodes({ myself, flags: { 1: 'fail' }, masterOf: { 3: 0, 1: 4, 5: 2 }, slots: { 0: '0-5460', 4: '5461-10922', 2: '10923-16383' } });
    const obs = healthy({ 1: { node: node(1), reachable: false, error: 'connect ECONNREFUSED' } }, view).map((o, i) => (i === 4 && o.reachable ? { ...o, info: info('master') } : o));
    const a = assessCluster(obs, { replicasPerMaster: 1 });
    expect(a.coveredSlots).toBe(16_384);
    expect(a.problems).toContain('master redis-4 (slots 5461-10922) has no live replica');
    expect(a.rows[4]).toMatchObject({ role: 'master', slots: '5461-10922' });
  });

  it('reports a node close to maxmemory (noeviction refuses writes when full)', () => {
    const obs = healthy().map((o, i) => (i === 2 && o.reachable ? { ...o, info: info('master', { used: 95, max: 100 }) } : o));
    expect(assessCluster(obs, { replicasPerMaster: 1 }).problems).toEqual(['redis-2 uses 95 B of maxmemory 100 B (95.0%); with noeviction it refuses writes when full']);
  });

  it('reports every node unreachable without a slot map', () => {
    const a = assessCluster(nodes.map((n: RedisNode) => ({ node: n, reachable: false, error: 'WRONGPASS invalid username-password pair' })), { replicasPerMaster: 1 });
    expect(a.problems).toHaveLength(6);
    expect(a.state).toBe('unknown');
    expect(formatAssessment(a).join('\n')).toContain('0/16384 slots');
    expect(formatAssessment(a)[2]).toMatch(/^redis-0 +127\.0\.0\.1:\d+ +unreachable +- +- +- +-$/);
  });
});

describe('redis backup pieces', () => {
  const root = mkdtempSync(join(tmpdir(), 'ops-redis-unit-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('names backups by UTC time, sortable and without colons', () => {
    expect(redisBackupName(new Date('2026-11-01T03:00:05.123Z'))).toBe('redis-20261101T030005Z');
  });

  it('reads the files of a multi-part AOF manifest and refuses paths outside the AOF dir', () => {
    expect(parseAofManifest('file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n')).toEqual([
      { file: 'appendonly.aof.1.base.rdb', type: 'b' },
      { file: 'appendonly.aof.1.incr.aof', type: 'i' },
    ]);
    expect(() => parseAofManifest('file ../../etc/passwd seq 1 type b')).toThrow(/outside its directory/);
    expect(() => parseAofManifest('garbage')).toThrow(/unreadable AOF manifest line/);
  });

  it('prunes only our own backups older than the retention, never the one just made', () => {
    const make = (name: string, createdAt: string, manifest = true) => {
      mkdirSync(join(root, name), { recursive: true });
      if (manifest) writeFileSync(join(root, name, REDIS_MANIFEST), JSON.stringify({ kind: 'numbering/redis-backup', version: 1, createdAt, masters: [] }));
    };
    make('redis-20260101T000000Z', '2026-01-01T00:00:00.000Z');
    make('redis-20260110T000000Z', '2026-01-10T00:00:00.000Z');
    make('redis-20260101T000001Z', '2026-01-01T00:00:01.000Z', false); // no manifest: not ours to delete
    make('mariadb-20260101T000000Z', '2026-01-01T00:00:00.000Z');
    const now = new Date('2026-01-15T00:00:00.000Z');
    expect(pruneRedisBackups(root, 7, now, 'redis-20260110T000000Z')).toEqual(['redis-20260101T000000Z']);
    expect(existsSync(join(root, 'redis-20260110T000000Z'))).toBe(true);
    expect(existsSync(join(root, 'redis-20260101T000001Z'))).toBe(true);
    expect(existsSync(join(root, 'mariadb-20260101T000000Z'))).toBe(true);
    expect(pruneRedisBackups(root, 1, now, 'redis-20260110T000000Z')).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  buildPlatform,
  defaultPlatformConfig,
  exampleSecrets,
  redisClusterCreateArgs,
  redisConfValue,
  renderRedisAcl,
  renderRedisConf,
  type PlatformSecrets,
} from '../src/index.js';

const local = buildPlatform(defaultPlatformConfig('local', { 'redis.nodeTimeoutMs': 3000, 'redis.maxmemoryMb': 128, 'redis.appendfsync': 'always' }), { workdir: '/srv/devstack' });
const k8s = buildPlatform(defaultPlatformConfig('kubernetes'));
const docker = buildPlatform(defaultPlatformConfig('docker'));
const secrets = exampleSecrets();

/** `directive -> value` of every non-comment line (directives occurring once). */
function directives(conf: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of conf.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [key, ...rest] = line.split(' ');
    expect(map.has(key!), `directive ${key} rendered twice`).toBe(false);
    map.set(key!, rest.join(' '));
  }
  return map;
}

const withRedis = (patch: Partial<PlatformSecrets['redis']>): PlatformSecrets => ({ ...secrets, redis: { ...secrets.redis, ...patch } });

describe('renderRedisConf', () => {
  it('renders a devstack node from the model: loopback, its own port, dirs and timeouts', () => {
    const node = local.redis.nodes[2]!;
    const d = directives(renderRedisConf(local, node, secrets));
    expect(d.get('bind')).toBe('127.0.0.1');
    expect(d.get('protected-mode')).toBe('yes');
    expect(d.get('port')).toBe(String(node.port));
    expect(d.get('cluster-port')).toBe(String(node.busPort));
    expect(d.get('cluster-enabled')).toBe('yes');
    expect(d.get('cluster-config-file')).toBe('nodes.conf');
    expect(d.get('cluster-node-timeout')).toBe('3000');
    expect(d.get('dir')).toBe('/srv/devstack/redis/redis-2');
    expect(d.get('logfile')).toBe('/srv/devstack/redis/redis-2/redis.log');
    expect(d.get('pidfile')).toBe('/srv/devstack/redis/redis-2/redis.pid');
    expect(d.get('daemonize')).toBe('no');
    expect(d.get('aclfile')).toBe('/srv/devstack/redis/users.acl');
    expect(d.has('cluster-announce-hostname')).toBe(false);
    expect(d.has('cluster-preferred-endpoint-type')).toBe(false);
  });

  it('persists with AOF (fsync from the model) and RDB snapshots, and never evicts', () => {
    const d = directives(renderRedisConf(local, local.redis.nodes[0]!, secrets));
    expect(d.get('appendonly')).toBe('yes');
    expect(d.get('appendfsync')).toBe('always');
    expect(d.get('save')).toMatch(/^(\d+ \d+ ?)+$/);
    expect(d.get('maxmemory')).toBe('128mb');
    expect(d.get('maxmemory-policy')).toBe('noeviction');
    expect(d.get('repl-diskless-sync-delay')).toBe('0');
  });

  it('authenticates replication as the repl user with the replication password', () => {
    const d = directives(renderRedisConf(local, local.redis.nodes[0]!, secrets));
    expect(d.get('masteruser')).toBe('repl');
    expect(d.get('masterauth')).toBe(secrets.redis.replication);
  });

  it('uses the ACL, not rename-command, to keep dangerous commands from the app', () => {
    const conf = renderRedisConf(local, local.redis.nodes[0]!, secrets);
    expect(conf).not.toMatch(/^rename-command/m);
    expect(directives(conf).get('enable-debug-command')).toBe('no');
  });

  it('announces the stable pod hostname on Kubernetes and binds all interfaces', () => {
    const node = k8s.redis.nodes[4]!;
    const d = directives(renderRedisConf(k8s, node, secrets));
    expect(d.get('cluster-announce-hostname')).toBe('redis-4.redis.numbering.svc.cluster.local');
    expect(d.get('cluster-preferred-endpoint-type')).toBe('hostname');
    expect(d.get('bind')).toBe('0.0.0.0');
    expect(d.get('port')).toBe('6379');
    expect(d.get('logfile')).toBe('""');
    expect(d.get('aclfile')).toBe('/etc/redis/users.acl');
  });

  it('announces container names on Docker', () => {
    const d = directives(renderRedisConf(docker, docker.redis.nodes[0]!, secrets));
    expect(d.get('cluster-announce-hostname')).toBe('redis-0');
    expect(d.get('bind')).toBe('0.0.0.0');
  });

  it('quotes a replication password that redis.conf would otherwise split or unescape', () => {
    const pw = 'a"b\\c#d';
    const d = directives(renderRedisConf(local, local.redis.nodes[0]!, withRedis({ replication: pw })));
    expect(d.get('masterauth')).toBe('"a\\"b\\\\c#d"');
    expect(redisConfValue('plain-Value_1.2')).toBe('plain-Value_1.2');
  });

  it('refuses a replication password with whitespace, naming the secret', () => {
    expect(() => renderRedisConf(local, local.redis.nodes[0]!, withRedis({ replication: 'two words' }))).toThrow(/secrets\.redis\.replication.*whitespace/);
  });

  it('refuses a node that is not in the model', () => {
    expect(() => renderRedisConf(local, { ...local.redis.nodes[0]!, name: 'redis-99' }, secrets)).toThrow(/redis-99/);
  });
});

describe('renderRedisAcl', () => {
  const acl = renderRedisAcl(local, secrets);
  const lines = acl.trimEnd().split('\n');
  const user = (name: string) => lines.find((l) => l.startsWith(`user ${name} `)) ?? '';

  it('has no comment lines (Redis ACL files have no comment syntax) and one line per user', () => {
    expect(lines.every((l) => l.startsWith('user '))).toBe(true);
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['default', 'admin', 'app', 'repl', 'exporter']);
  });

  it('turns the default user off', () => {
    expect(user('default')).toBe('user default off');
  });

  it('gives each user its own password', () => {
    expect(user('admin')).toContain(`>${secrets.redis.admin}`);
    expect(user('app')).toContain(`>${secrets.redis.app}`);
    expect(user('repl')).toContain(`>${secrets.redis.replication}`);
    expect(user('exporter')).toContain(`>${secrets.redis.exporter}`);
  });

  it('denies the app @dangerous but gives back INFO (ioredis ready check)', () => {
    expect(user('app')).toMatch(/ \+@all -@dangerous .*\+info/);
    expect(user('app')).toContain('~*');
  });

  it('keeps the exporter away from keys and CONFIG (which reveals masterauth)', () => {
    expect(user('exporter')).toContain('-@all');
    expect(user('exporter')).not.toContain('~');
    expect(user('exporter')).not.toContain('config');
    expect(user('exporter')).toContain('+info');
  });

  it('lets repl only sync', () => {
    expect(user('repl')).toMatch(/-@all \+psync \+sync \+replconf \+ping$/);
  });

  it.each([
    ['space', 'pass word'],
    ['tab', 'pass\tword'],
    ['newline', 'pass\nuser evil on nopass +@all'],
    ['NUL', 'pass\u0000'],
    ['empty', ''],
  ])('rejects a password with %s, naming the secret', (_label, pw) => {
    expect(() => renderRedisAcl(local, withRedis({ app: pw }))).toThrow(/secrets\.redis\.app/);
  });
});

describe('redisClusterCreateArgs', () => {
  it('creates the cluster as admin from every node with the replica count from the model', () => {
    const args = redisClusterCreateArgs(local, secrets);
    expect(args.slice(0, 7)).toEqual(['--user', 'admin', '--pass', secrets.redis.admin, '--no-auth-warning', '--cluster', 'create']);
    expect(args.slice(7, 13)).toEqual(local.redis.nodes.map((n) => `127.0.0.1:${n.port}`));
    expect(args.slice(13)).toEqual(['--cluster-replicas', '1', '--cluster-yes']);
  });

  it('follows redis.masters and redis.replicasPerMaster', () => {
    const model = buildPlatform(defaultPlatformConfig('local', { 'redis.masters': 4, 'redis.replicasPerMaster': 2 }), { workdir: '/w' });
    const args = redisClusterCreateArgs(model, secrets);
    expect(args.filter((a) => a.startsWith('127.0.0.1:'))).toHaveLength(12);
    expect(args[args.indexOf('--cluster-replicas') + 1]).toBe('2');
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, buildPlatform, configKeys, defaultPlatformConfig, parsePlatformConfig } from '../src/index.js';

const problemsOf = (raw: Record<string, unknown>) => {
  try {
    parsePlatformConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('parsePlatformConfig', () => {
  it('gives an empty stack every default', () => {
    const config = parsePlatformConfig({});
    expect(config.target).toBe('local');
    expect(config.canary.weight).toBe(0);
    expect(config.redis.masters).toBe(3);
    expect(config.postgres.ttl).toBeGreaterThanOrEqual(config.postgres.loopWait + 2 * config.postgres.retryTimeout);
  });

  it('reads flat dotted keys as `pulumi config set canary.weight 30` stores them, converting strings', () => {
    const config = parsePlatformConfig({ 'numbering:canary.weight': '30', 'redis.nodeTimeoutMs': '3000', 'postgres.synchronousMode': 'false' });
    expect(config.canary.weight).toBe(30);
    expect(config.redis.nodeTimeoutMs).toBe(3000);
    expect(config.postgres.synchronousMode).toBe(false);
  });

  it('reads nested objects as `--path` and YAML objects store them', () => {
    expect(parsePlatformConfig({ canary: { weight: 75 } }).canary.weight).toBe(75);
  });

  it('names the key of a weight out of range', () => {
    expect(problemsOf({ 'canary.weight': 150 })).toEqual([expect.objectContaining({ key: 'canary.weight', message: expect.stringContaining('<= 100') })]);
    expect(problemsOf({ 'canary.weight': '-1' })[0]?.key).toBe('canary.weight');
    expect(problemsOf({ 'canary.weight': 'thirty' })[0]?.message).toMatch(/integer.*"thirty"/);
  });

  it('refuses a Redis Cluster with 2 masters', () => {
    expect(problemsOf({ redis: { masters: 2 } })).toEqual([expect.objectContaining({ key: 'redis.masters', message: expect.stringMatching(/>= 3.*at least 3/) })]);
  });

  it('refuses Patroni timings that break loop_wait + 2*retry_timeout <= ttl', () => {
    const [problem] = problemsOf({ postgres: { ttl: 10, loopWait: 2, retryTimeout: 5 } });
    expect(problem?.key).toBe('postgres.ttl');
    expect(problem?.message).toContain('2 + 2*5 = 12 > 10');
  });

  it('names unknown keys and suggests the near ones', () => {
    const [problem] = problemsOf({ 'canary.wieght': 3 });
    expect(problem?.key).toBe('canary.wieght');
    expect(problem?.message).toContain('canary.weight');
  });

  it('reports every problem at once', () => {
    expect(problemsOf({ 'canary.weight': 101, 'redis.masters': 1 }).map((p) => p.key).sort()).toEqual(['canary.weight', 'redis.masters']);
    // A typo and a bad value together are one round trip, not two.
    expect(problemsOf({ 'canary.wieght': 3, 'canary.weight': 101 }).map((p) => p.key).sort()).toEqual(['canary.weight', 'canary.wieght']);
  });

  it('lists the settable keys', () => {
    expect(configKeys()).toContain('canary.weight');
    expect(configKeys()).toContain('postgres.ttl');
  });
});

describe('buildPlatform', () => {
  it('puts the devstack on loopback, shifted by local.portOffset', () => {
    const model = buildPlatform(defaultPlatformConfig('local', { 'local.portOffset': 100 }), { workdir: '/w' });
    expect(model.redis.nodes.map((n) => n.port)).toEqual([7101, 7102, 7103, 7104, 7105, 7106]);
    expect(model.redis.nodes.every((n) => n.host === '127.0.0.1' && n.busPort === n.port + 10_000)).toBe(true);
    expect(model.mariadb.port).toBe(3407);
    expect(model.redis.nodes[0]?.dir).toBe('/w/redis/redis-0');
  });

  it('uses stable per-pod DNS names on kubernetes and container names on docker', () => {
    const k8s = buildPlatform(defaultPlatformConfig('kubernetes', { namespace: 'num' }));
    expect(k8s.redis.nodes[5]?.host).toBe('redis-5.redis.num.svc.cluster.local');
    expect(k8s.postgres.dcs.kind).toBe('kubernetes');
    const docker = buildPlatform(defaultPlatformConfig('docker'));
    expect(docker.redis.nodes[0]?.host).toBe('redis-0');
    expect(docker.postgres.dcs.kind).toBe('etcd3');
  });

  it('sizes the Redis Cluster as masters * (1 + replicas)', () => {
    const model = buildPlatform(defaultPlatformConfig('docker', { redis: { masters: 4, replicasPerMaster: 2 } }));
    expect(model.redis.nodes).toHaveLength(12);
  });

  it('tags the two releases from canary.*Version', () => {
    const model = buildPlatform(defaultPlatformConfig('docker', { canary: { stableVersion: '1.4.0', canaryVersion: '1.5.0-rc1' } }));
    expect(model.service.releases.map((r) => r.image)).toEqual(['numbering-service:1.4.0', 'numbering-service:1.5.0-rc1']);
  });
});

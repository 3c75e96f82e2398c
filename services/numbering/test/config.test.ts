import { describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, exampleSecrets, migrationEnvironment, serviceEnvironment } from '@numbering/blueprint';
import { EnvError, loadMigrationEnv, loadServiceEnv, redisSeedNodes } from '../src/config.js';

const model = buildPlatform(defaultPlatformConfig('local'), { workdir: '/tmp/x' });
const serviceEnv = serviceEnvironment(model, model.service.releases[1], exampleSecrets());

describe('service environment', () => {
  it('accepts exactly what the platform sets (blueprint serviceEnvironment), with defaults for the optional knobs', () => {
    const env = loadServiceEnv(serviceEnv);
    expect(env.RELEASE).toBe('canary');
    expect(env.PORT).toBe(model.service.releases[1].port);
    expect(env.COALESCE).toBe(true);
    expect(env.NUMBERING_TIME_ZONE).toBe('UTC');
    expect(redisSeedNodes(env)).toHaveLength(model.redis.nodes.length);
  });

  it('accepts the container targets too', () => {
    for (const target of ['docker', 'kubernetes'] as const) {
      const m = buildPlatform(defaultPlatformConfig(target));
      expect(loadServiceEnv(serviceEnvironment(m, m.service.releases[0], exampleSecrets())).HOST).toBe('0.0.0.0');
    }
  });

  it('names each missing or bad variable, without echoing secrets', () => {
    const bad = { ...serviceEnv, PORT: 'eighty', RELEASE: 'beta', DB_PASSWORD: '', COALESCE: 'maybe', ADMIN_TOKEN: 'short-secret' };
    delete (bad as Record<string, string | undefined>).REDIS_NODES;
    try {
      loadServiceEnv(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EnvError);
      const names = (e as EnvError).problems.map((p) => p.name).sort();
      expect(names).toEqual(['ADMIN_TOKEN', 'COALESCE', 'DB_PASSWORD', 'PORT', 'REDIS_NODES', 'RELEASE']);
      expect((e as Error).message).not.toContain('short-secret');
    }
  });

  it('refuses numbers and booleans that are not written plainly, instead of converting them', () => {
    for (const [name, value] of [['PORT', 'true'], ['DB_POOL_SIZE', '0x10'], ['LOCK_TIMEOUT_MS', '1e3'], ['COALESCE', '1'], ['DB_PORT', '33.06']] as const) {
      expect(() => loadServiceEnv({ ...serviceEnv, [name]: value }), `${name}=${value}`).toThrow(new RegExp(`${name}: must be`));
    }
    expect(loadServiceEnv({ ...serviceEnv, PORT: ' 8080 ' }).PORT).toBe(8080);
  });

  it('derives the Redis lock TTL from LOCK_TIMEOUT_MS unless set', async () => {
    const { redisLockTtlMs } = await import('../src/config.js');
    expect(redisLockTtlMs(loadServiceEnv({ ...serviceEnv, LOCK_TIMEOUT_MS: '2000' }))).toBe(1000);
    expect(redisLockTtlMs(loadServiceEnv({ ...serviceEnv, LOCK_TIMEOUT_MS: '300' }))).toBe(150);
    expect(redisLockTtlMs(loadServiceEnv({ ...serviceEnv, REDIS_LOCK_TTL_MS: '5000' }))).toBe(5000);
    expect(() => loadServiceEnv({ ...serviceEnv, REDIS_LOCK_TTL_MS: '10' })).toThrow(/REDIS_LOCK_TTL_MS/);
  });

  it('rejects an unknown time zone', () => {
    expect(() => loadServiceEnv({ ...serviceEnv, NUMBERING_TIME_ZONE: 'Mars/Olympus' })).toThrow(/NUMBERING_TIME_ZONE: unknown IANA time zone/);
    expect(loadServiceEnv({ ...serviceEnv, NUMBERING_TIME_ZONE: 'Asia/Bangkok', COALESCE: 'false' }).COALESCE).toBe(false);
  });

  it('accepts the migration environment (migrator user)', () => {
    expect(loadMigrationEnv(migrationEnvironment(model, exampleSecrets())).DB_USER).toBe('migrator');
    expect(() => loadMigrationEnv({})).toThrow(/DB_HOST: is required/);
  });
});

import fp from 'fastify-plugin';
import { redisLockTtlMs } from '../../config.js';
import { createCluster, RedisLocks } from '../../services/redis-locks.js';

declare module 'fastify' {
  interface FastifyInstance {
    locks: RedisLocks;
  }
}

/** Redis Cluster client and the fast-path lock manager; starts in fallback mode until Redis answers. */
export default fp(
  async (fastify) => {
    const env = fastify.config;
    const locks = new RedisLocks(createCluster(env), {
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
      lockTtlMs: redisLockTtlMs(env),
      probeIntervalMs: env.REDIS_PROBE_INTERVAL_MS,
      onModeChange: (mode, reason) => {
        if (mode === 'fallback') fastify.log.warn({ reason }, 'Redis unavailable: DB-only fallback mode (the row lock alone serialises allocations)');
        else fastify.log.info({ reason }, 'Redis available: fast-path locks on');
      },
      onFailure: (reason) => fastify.metrics.lockFailures.inc({ reason }),
    });
    fastify.decorate('locks', locks);
    fastify.metrics.watchFallback(() => locks.mode === 'fallback');
    locks.start();
    fastify.addHook('onClose', async () => {
      await locks.close();
    });
  },
  { name: 'redis', dependencies: ['config', 'metrics'] },
);

import fp from 'fastify-plugin';
import { createPool, poolStats, type Pool } from '../../db/pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Pool;
  }
}

/** The MariaDB pool. It connects lazily, so the service starts (and reports not ready) while the database is down. */
export default fp(
  async (fastify) => {
    const pool = createPool(fastify.config);
    fastify.decorate('db', pool);
    fastify.metrics.watchPool(() => poolStats(pool, fastify.config.DB_POOL_SIZE));
    fastify.addHook('onClose', async () => {
      await pool.end().catch(() => {});
    });
  },
  { name: 'db', dependencies: ['config', 'metrics'] },
);

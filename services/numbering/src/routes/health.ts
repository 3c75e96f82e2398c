import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { poolStats } from '../db/pool.js';

const Status = Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]);
const RedisComponent = Type.Object({ status: Status, detail: Type.String(), mode: Type.Union([Type.Literal('redis'), Type.Literal('fallback')]), latencyMs: Type.Optional(Type.Number()) });
const DatabaseComponent = Type.Object({
  status: Status,
  detail: Type.String(),
  latencyMs: Type.Optional(Type.Number()),
  schemaVersion: Type.Optional(Type.Integer()),
  pool: Type.Optional(Type.Object({ total: Type.Integer(), idle: Type.Integer(), inUse: Type.Integer(), waiting: Type.Integer() })),
});
const Integrity = Type.Object({
  status: Status,
  checkedCounters: Type.Integer(),
  problems: Type.Array(Type.Object({ counterKey: Type.String(), epoch: Type.Integer(), currentValue: Type.Integer(), ledgerRows: Type.Integer(), maxSequence: Type.Integer() })),
  checkedAt: Type.Optional(Type.String()),
});

/**
 * /health: the process is alive. /health/ready: it can serve (database reachable and migrated;
 * Redis is optional thanks to fallback mode). /health/numbering: the whole picture, including
 * `fallback_mode` and the ledger integrity of recently used counters.
 */
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  const base = () => ({ release: fastify.config.RELEASE, version: fastify.config.SERVICE_VERSION });

  fastify.get('/health', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok'), release: Type.String(), version: Type.String(), uptimeSeconds: Type.Number() }) } } }, async () => ({
    status: 'ok' as const,
    ...base(),
    uptimeSeconds: Math.round(process.uptime()),
  }));

  fastify.get('/health/ready', { schema: { response: { '2xx': Type.Object({ status: Type.String(), detail: Type.String() }), '5xx': Type.Object({ status: Type.String(), detail: Type.String() }) } } }, async (_req, reply) => {
    const db = await fastify.health.database();
    return reply.code(db.ok ? 200 : 503).send({ status: db.ok ? 'ready' : 'not ready', detail: `database: ${db.detail}` });
  });

  const redisStatus = async () => {
    const check = await fastify.locks.check();
    return { status: check.ok ? ('ok' as const) : ('down' as const), detail: check.detail, mode: fastify.locks.mode, ...(check.latencyMs !== undefined ? { latencyMs: round(check.latencyMs) } : {}) };
  };
  const databaseStatus = async () => {
    const db = await fastify.health.database();
    return {
      status: db.ok ? ('ok' as const) : ('down' as const),
      detail: db.detail,
      ...(db.latencyMs !== undefined ? { latencyMs: round(db.latencyMs) } : {}),
      ...(db.schemaVersion !== undefined ? { schemaVersion: db.schemaVersion } : {}),
      pool: poolStats(fastify.db, fastify.config.DB_POOL_SIZE),
    };
  };

  fastify.get('/health/redis', { schema: { response: { '2xx': RedisComponent, '5xx': RedisComponent } } }, async (_req, reply) => {
    const redis = await redisStatus();
    return reply.code(redis.status === 'ok' ? 200 : 503).send(redis);
  });

  fastify.get('/health/database', { schema: { response: { '2xx': DatabaseComponent, '5xx': DatabaseComponent } } }, async (_req, reply) => {
    const db = await databaseStatus();
    return reply.code(db.status === 'ok' ? 200 : 503).send(db);
  });

  const NumberingHealth = Type.Object({
    status: Status,
    release: Type.String(),
    version: Type.String(),
    fallback_mode: Type.Boolean(),
    redis: RedisComponent,
    database: DatabaseComponent,
    sequence_integrity: Integrity,
  });
  fastify.get('/health/numbering', { schema: { response: { '2xx': NumberingHealth, '5xx': NumberingHealth } } }, async (_req, reply) => {
    const [redis, database] = await Promise.all([redisStatus(), databaseStatus()]);
    let integrity: Static<typeof Integrity> = { status: 'down', checkedCounters: 0, problems: [] };
    if (database.status === 'ok') {
      try {
        const i = await fastify.health.integrity();
        integrity = { status: i.ok ? 'ok' : 'degraded', checkedCounters: i.checkedCounters, problems: i.problems, checkedAt: i.checkedAt };
      } catch (e) {
        fastify.log.warn({ err: e }, 'integrity check failed');
      }
    }
    // Fallback mode is a supported way of running (the row lock is the guarantee): still "ok".
    const status = database.status !== 'ok' ? 'down' : integrity.status === 'ok' ? 'ok' : 'degraded';
    return reply.code(status === 'down' ? 503 : 200).send({ status, ...base(), fallback_mode: fastify.locks.mode === 'fallback', redis, database, sequence_integrity: integrity });
  });
};

const round = (ms: number) => Math.round(ms * 100) / 100;

export default health;

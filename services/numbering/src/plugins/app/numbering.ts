import { hostname } from 'node:os';
import fp from 'fastify-plugin';
import { utilization } from '../../domain/allocation.js';
import { listCounters } from '../../db/admin.js';
import { expectedSchemaVersion } from '../../db/migrate.js';
import { expireReservations } from '../../db/reservations.js';
import { Allocator } from '../../services/allocator.js';
import { HealthChecks } from '../../services/health.js';
import { NumberingService } from '../../services/numbering.js';
import { TemplateCache } from '../../services/template-cache.js';

declare module 'fastify' {
  interface FastifyInstance {
    numbering: NumberingService;
    templates: TemplateCache;
    health: HealthChecks;
    actor: string;
  }
}

/**
 * Wires the allocation path (template cache -> allocator -> ledger) and the background jobs:
 * the reservation expiry sweeper and the utilization gauge refresh. On close, new work is refused
 * by Fastify and the allocator finishes the batches it has.
 */
export default fp(
  async (fastify) => {
    const env = fastify.config;
    const actor = `service/${env.RELEASE}/${hostname()}`.slice(0, 64);
    const templates = new TemplateCache(fastify.db);
    const allocator = new Allocator({
      pool: fastify.db,
      locks: fastify.locks,
      metrics: fastify.metrics,
      coalesce: env.COALESCE,
      maxBatch: env.COALESCE_MAX_BATCH,
      lockTimeoutMs: env.LOCK_TIMEOUT_MS,
      actor,
      log: fastify.log,
    });
    const numbering = new NumberingService({
      pool: fastify.db,
      allocator,
      templates,
      timeZone: env.NUMBERING_TIME_ZONE,
      actor,
      reservationTtlSeconds: env.RESERVATION_TTL_SECONDS,
    });
    fastify.decorate('actor', actor);
    fastify.decorate('templates', templates);
    fastify.decorate('numbering', numbering);
    fastify.decorate('health', new HealthChecks(fastify.db, expectedSchemaVersion()));

    const jobs = [
      every(env.EXPIRY_SWEEP_INTERVAL_MS, async () => {
        const expired = await expireReservations(fastify.db, actor);
        if (expired > 0) fastify.log.info({ expired }, 'reservations expired');
      }),
      every(30_000, async () => {
        for (const c of await listCounters(fastify.db, { limit: 500 })) {
          fastify.metrics.sequenceUtilization.set({ counter_key: c.counterKey, template: c.template }, utilization(c.currentValue, c.maxValue));
        }
      }, true),
    ].map((job) => job((e) => fastify.log.warn({ err: e }, 'background job failed')));

    fastify.addHook('onClose', async () => {
      jobs.forEach((stop) => stop());
      await allocator.idle();
    });
  },
  { name: 'numbering', dependencies: ['config', 'metrics', 'db', 'redis'] },
);

/** Runs `work` every `ms` (never overlapping); returns a starter taking the error logger and returning a stopper. */
function every(ms: number, work: () => Promise<void>, runNow = false) {
  return (onError: (e: unknown) => void) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const tick = async () => {
      try {
        await work();
      } catch (e) {
        onError(e);
      }
      if (!stopped) timer = setTimeout(tick, ms).unref();
    };
    timer = setTimeout(tick, runNow ? 0 : ms).unref();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  };
}

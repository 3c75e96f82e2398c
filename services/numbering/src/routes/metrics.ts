import type { FastifyPluginAsync } from 'fastify';

/** Prometheus scrape endpoint. */
const metrics: FastifyPluginAsync = async (fastify) => {
  fastify.get('/metrics', async (_req, reply) => {
    const body = await fastify.metrics.registry.metrics();
    return reply.type(fastify.metrics.registry.contentType).send(body);
  });
};

export default metrics;

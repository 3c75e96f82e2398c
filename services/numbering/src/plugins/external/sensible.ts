import sensible from '@fastify/sensible';
import fp from 'fastify-plugin';

/** httpErrors and reply helpers (fastify/demo registers the same). */
export default fp(async (fastify) => {
  await fastify.register(sensible);
}, { name: 'sensible' });

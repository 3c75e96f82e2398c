import fp from 'fastify-plugin';
import type { ServiceEnv } from '../../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: ServiceEnv;
  }
}

/** The validated environment, available to every plugin and route as `fastify.config`. */
export default fp<{ env: ServiceEnv }>(async (fastify, opts) => {
  fastify.decorate('config', opts.env);
}, { name: 'config' });

import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ServiceError } from '../../domain/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    verifyAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

/** `Authorization: Bearer <ADMIN_TOKEN>` for the admin API, compared in constant time. */
export default fp(
  async (fastify) => {
    const expected = Buffer.from(fastify.config.ADMIN_TOKEN);
    fastify.decorate('verifyAdmin', async (request: FastifyRequest, reply: FastifyReply) => {
      const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
      const given = Buffer.from(match?.[1] ?? '');
      if (!match || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        reply.header('www-authenticate', 'Bearer realm="numbering-admin"');
        throw new ServiceError(401, 'UNAUTHORIZED', 'admin API: missing or wrong bearer token');
      }
    });
  },
  { name: 'admin-auth', dependencies: ['config'] },
);

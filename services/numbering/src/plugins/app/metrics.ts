import fp from 'fastify-plugin';
import { createMetrics, type Metrics } from '../../services/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/**
 * Prometheus metrics and the release marker. Every response, errors and 404s included, carries
 * `X-Release` (the canary nginx split and the canary analysis rely on it), and every request is
 * observed in `http_request_duration_seconds{method,route,status_code,release}`.
 */
export default fp(
  async (fastify) => {
    const release = fastify.config.RELEASE;
    const metrics = createMetrics(release);
    fastify.decorate('metrics', metrics);

    fastify.addHook('onRequest', async (_request, reply) => {
      reply.header('x-release', release);
      reply.header('x-service-version', fastify.config.SERVICE_VERSION);
    });
    fastify.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode), release }, reply.elapsedTime / 1000);
      if (reply.statusCode >= 500) request.log.warn({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request failed');
    });
  },
  { name: 'metrics', dependencies: ['config'] },
);

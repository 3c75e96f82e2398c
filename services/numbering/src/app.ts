import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import type { ServiceEnv } from './config.js';
import { ServiceError } from './domain/errors.js';
import { TemplateError } from './domain/template.js';
import { ER, isConnectionError, sqlErrno } from './db/pool.js';
import sensible from './plugins/external/sensible.js';
import config from './plugins/app/config.js';
import metrics from './plugins/app/metrics.js';
import faultInjection from './plugins/app/fault-injection.js';
import db from './plugins/app/db.js';
import redis from './plugins/app/redis.js';
import numbering from './plugins/app/numbering.js';
import adminAuth from './plugins/app/admin-auth.js';
import health from './routes/health.js';
import metricsRoute from './routes/metrics.js';
import numbers from './routes/numbers.js';
import reservations from './routes/reservations.js';
import preview from './routes/preview.js';
import adminTemplates from './routes/admin/templates.js';
import adminCounters from './routes/admin/counters.js';

/**
 * The application, fastify/demo style: external plugins, then the app's plugins, then routes,
 * and one error handler. Plugins and routes are registered explicitly (type-checked, and the
 * compiled dist/ needs no file-system discovery).
 */

export function serverOptions(env: Pick<ServiceEnv, 'LOG_LEVEL' | 'RELEASE'>): FastifyServerOptions {
  return {
    // Malformed URLs fail before any hook runs: answer them in the same shape, with the release.
    frameworkErrors: (error, _request, reply) => {
      const body = { statusCode: 400, code: error.code ?? 'BAD_REQUEST', error: 'Bad Request', message: error.message };
      (reply as FastifyReply).code(400).header('x-release', env.RELEASE).send(body);
    },
    logger: { level: env.LOG_LEVEL },
    // Per-request log lines would cost more CPU than an allocation; failures are logged instead.
    disableRequestLogging: true,
    // Unknown body properties are rejected (400), not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestTimeout: 30_000,
  };
}

export default async function serviceApp(fastify: FastifyInstance, opts: { env: ServiceEnv }) {
  await fastify.register(sensible);

  await fastify.register(config, { env: opts.env });
  await fastify.register(metrics);
  // After metrics: an injected 500 carries X-Release and is counted like any other answer.
  await fastify.register(faultInjection);
  await fastify.register(db);
  await fastify.register(redis);
  await fastify.register(numbering);
  await fastify.register(adminAuth);

  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) {
      return reply.code(400).send({ statusCode: 400, code: 'VALIDATION_ERROR', error: 'Bad Request', message: validationMessage(err) });
    }
    if (err instanceof ServiceError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      if (err.statusCode >= 500) request.log.warn({ code: err.code, msg: err.message }, 'request not served');
      return reply.code(err.statusCode).send({ statusCode: err.statusCode, code: err.code, error: STATUS_CODES[err.statusCode] ?? 'Error', message: err.message });
    }
    if (err instanceof TemplateError) {
      return reply.code(400).send({ statusCode: 400, code: 'INVALID_TEMPLATE', error: 'Bad Request', message: err.message });
    }
    // Database down or a row lock held too long outside the allocator (admin, confirm, cancel): retryable.
    if (isConnectionError(err) || sqlErrno(err) === ER.LOCK_WAIT_TIMEOUT || sqlErrno(err) === ER.LOCK_DEADLOCK) {
      request.log.warn({ err }, 'database unavailable');
      reply.header('retry-after', '2');
      return reply.code(503).send({ statusCode: 503, code: 'DB_UNAVAILABLE', error: 'Service Unavailable', message: 'the database is unavailable or busy; retry' });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'unhandled error');
      return reply.code(500).send({ statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'internal error; see the service log' });
    }
    return reply.code(status).send({ statusCode: status, code: err.code ?? 'BAD_REQUEST', error: STATUS_CODES[status] ?? 'Error', message: err.message });
  });

  fastify.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, code: 'ROUTE_NOT_FOUND', error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  await fastify.register(health);
  await fastify.register(metricsRoute);
  await fastify.register(numbers);
  await fastify.register(reservations);
  await fastify.register(preview);
  await fastify.register(adminTemplates);
  await fastify.register(adminCounters);
}

/** "body/fields must NOT have additional properties: FOO" — the AJV message plus the offending property. */
export function validationMessage(err: FastifyError): string {
  const context = err.validationContext ?? 'request';
  return (err.validation ?? [])
    .map((v) => {
      const path = `${context}${v.instancePath ?? ''}`;
      const params = v.params as Record<string, unknown>;
      const extra = params.additionalProperty ? `: ${String(params.additionalProperty)}` : params.allowedValues ? ` (${(params.allowedValues as unknown[]).join(', ')})` : '';
      return `${path} ${v.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

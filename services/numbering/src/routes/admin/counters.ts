import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listAudit, listCounters, overrideCounter, resetCounter, type CounterView } from '../../db/admin.js';
import { DateTime, errorResponses, Reason, TemplateName } from '../../schemas/common.js';
import { adminActor } from './templates.js';

const Counter = Type.Object({
  counterKey: Type.String(),
  template: Type.String(),
  period: Type.String(),
  epoch: Type.Integer(),
  currentValue: Type.Integer(),
  maxValue: Type.Integer(),
  utilization: Type.Number(),
  updatedAt: DateTime,
});
const KeyParam = Type.Object({ counterKey: Type.String({ minLength: 1, maxLength: 255, description: 'percent-encoded counter key' }) });
const AuditEntry = Type.Object({
  id: Type.Integer(),
  createdAt: DateTime,
  actor: Type.String(),
  action: Type.String(),
  counterKey: Type.Union([Type.String(), Type.Null()]),
  number: Type.Union([Type.String(), Type.Null()]),
  sequence: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  details: Type.Unknown(),
});

/** Counter administration: list, reset (new epoch), manual override (forward only), audit trail. */
const counters: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addHook('onRequest', fastify.verifyAdmin);
  const track = (c: CounterView) => {
    fastify.metrics.sequenceUtilization.set({ counter_key: c.counterKey, template: c.template }, c.utilization);
    return c;
  };

  fastify.get(
    '/v1/admin/counters',
    { schema: { querystring: Type.Object({ template: Type.Optional(TemplateName), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }), response: { 200: Type.Array(Counter), ...errorResponses } } },
    async (request) => listCounters(fastify.db, { limit: request.query.limit, ...(request.query.template ? { template: request.query.template } : {}) }),
  );

  fastify.post(
    '/v1/admin/counters/:counterKey/reset',
    {
      schema: {
        description: 'Start a new epoch at 0. Numbers that would repeat an issued number are skipped (recorded SKIPPED), never reissued.',
        params: KeyParam,
        body: Type.Object({ reason: Reason }, { additionalProperties: false }),
        response: { 200: Counter, ...errorResponses },
      },
    },
    async (request) => track(await resetCounter(fastify.db, request.params.counterKey, request.body.reason, adminActor(request.ip))),
  );

  fastify.post(
    '/v1/admin/counters/:counterKey/override',
    {
      schema: {
        description: 'Move the counter forward to `value` (the next number gets value + 1); skipped values are recorded SKIPPED.',
        params: KeyParam,
        body: Type.Object({ value: Type.Integer({ minimum: 1 }), reason: Reason }, { additionalProperties: false }),
        response: { 200: Counter, ...errorResponses },
      },
    },
    async (request) => track(await overrideCounter(fastify.db, request.params.counterKey, request.body.value, request.body.reason, adminActor(request.ip))),
  );

  fastify.get(
    '/v1/admin/audit',
    {
      schema: {
        querystring: Type.Object({ counterKey: Type.Optional(Type.String({ maxLength: 255 })), number: Type.Optional(Type.String({ maxLength: 64 })), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }),
        response: { 200: Type.Array(AuditEntry), ...errorResponses },
      },
    },
    async (request) => listAudit(fastify.db, request.query),
  );
};

export default counters;

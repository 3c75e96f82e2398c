import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createTemplate, updateTemplate } from '../../db/admin.js';
import { findTemplateByName, listTemplates, type TemplateRow } from '../../db/templates.js';
import { notFound } from '../../domain/errors.js';
import { DateTime, errorResponses, Reason, ResetScope, TemplateName } from '../../schemas/common.js';

const Template = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  pattern: Type.String(),
  resetScope: ResetScope,
  maxValue: Type.Integer(),
  description: Type.String(),
  active: Type.Boolean(),
  version: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime,
});
const Pattern = Type.String({ minLength: 1, maxLength: 200, description: 'e.g. {PROJECT}-{ORIGINATOR}-{YYYY}-{SEQ:4}' });
const MaxValue = Type.Integer({ minimum: 1, maximum: 999_999_999_999 });
const NameParam = Type.Object({ name: TemplateName });

/**
 * Templates CRUD. "Delete" deactivates (UPDATE active = 0): the ledger keeps referring to its
 * templates and the service never deletes. Every change carries a reason and writes an audit row.
 */
const templates: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addHook('onRequest', fastify.verifyAdmin);
  const fresh = (row: TemplateRow) => {
    fastify.templates.invalidate(row.name);
    return row;
  };

  fastify.get('/v1/admin/templates', { schema: { querystring: Type.Object({ includeInactive: Type.Optional(Type.Boolean()) }), response: { 200: Type.Array(Template), ...errorResponses } } }, async (request) =>
    listTemplates(fastify.db, request.query.includeInactive ?? false),
  );

  fastify.get('/v1/admin/templates/:name', { schema: { params: NameParam, response: { 200: Template, ...errorResponses } } }, async (request) => {
    const t = await findTemplateByName(fastify.db, request.params.name);
    if (!t) throw notFound(`unknown template ${JSON.stringify(request.params.name)}`);
    return t;
  });

  fastify.post(
    '/v1/admin/templates',
    {
      schema: {
        body: Type.Object(
          { name: TemplateName, pattern: Pattern, resetScope: ResetScope, maxValue: Type.Optional(MaxValue), description: Type.Optional(Type.String({ maxLength: 500 })), reason: Reason },
          { additionalProperties: false },
        ),
        response: { 201: Template, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name, reason, ...input } = request.body;
      return reply.code(201).send(fresh(await createTemplate(fastify.db, name, input, reason, adminActor(request.ip))));
    },
  );

  fastify.put(
    '/v1/admin/templates/:name',
    {
      schema: {
        params: NameParam,
        body: Type.Object(
          { pattern: Type.Optional(Pattern), resetScope: Type.Optional(ResetScope), maxValue: Type.Optional(MaxValue), description: Type.Optional(Type.String({ maxLength: 500 })), active: Type.Optional(Type.Boolean()), reason: Reason },
          { additionalProperties: false },
        ),
        response: { 200: Template, ...errorResponses },
      },
    },
    async (request) => {
      const { reason, ...patch } = request.body;
      return fresh(await updateTemplate(fastify.db, request.params.name, patch, reason, adminActor(request.ip)));
    },
  );

  fastify.post(
    '/v1/admin/templates/:name/max-value',
    {
      schema: {
        description: 'Adjust max_value of the template and all its counters; never below a value a counter has reached.',
        params: NameParam,
        body: Type.Object({ maxValue: MaxValue, reason: Reason }, { additionalProperties: false }),
        response: { 200: Template, ...errorResponses },
      },
    },
    async (request) => fresh(await updateTemplate(fastify.db, request.params.name, { maxValue: request.body.maxValue }, request.body.reason, adminActor(request.ip), 'MAX_VALUE_ADJUST')),
  );

  fastify.delete(
    '/v1/admin/templates/:name',
    {
      schema: {
        description: 'Deactivate (no delete: issued numbers keep their template).',
        params: NameParam,
        body: Type.Object({ reason: Reason }, { additionalProperties: false }),
        response: { 200: Template, ...errorResponses },
      },
    },
    async (request) => fresh(await updateTemplate(fastify.db, request.params.name, { active: false }, request.body.reason, adminActor(request.ip), 'TEMPLATE_DEACTIVATE')),
  );
};

export const adminActor = (ip: string) => `admin@${ip}`.slice(0, 64);

export default templates;

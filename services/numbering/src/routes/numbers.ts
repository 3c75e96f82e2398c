import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Allocation, errorResponses, IdempotencyHeaders, NumberDetails, NumberParam, NumberRequest, Reason } from '../schemas/common.js';

const VoidResponse = Type.Object({
  voided: NumberDetails,
  replacement: Type.Object({ number: Type.String(), sequence: Type.Integer(), counterKey: Type.String(), voidedFrom: Type.String() }),
});

const numbers: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/v1/numbers',
    {
      schema: {
        description: 'Allocate a CONFIRMED number. The same Idempotency-Key with the same body returns the same number; with another body, 409.',
        headers: IdempotencyHeaders,
        body: NumberRequest,
        response: { 201: Allocation, ...errorResponses },
      },
    },
    async (request, reply) => {
      const a = await fastify.numbering.allocateConfirmed(request.body, request.headers['idempotency-key']);
      if (a.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(201).send({ number: a.number, sequence: a.sequence, counterKey: a.counterKey });
    },
  );

  fastify.get('/v1/numbers/:number', { schema: { params: NumberParam, response: { 200: NumberDetails, ...errorResponses } } }, async (request) =>
    fastify.numbering.getNumber(request.params.number),
  );

  fastify.post(
    '/v1/numbers/:number/void',
    {
      schema: {
        description: 'Void a CONFIRMED number and allocate its replacement (linked by voidedFrom), in one transaction.',
        params: NumberParam,
        body: Type.Object({ reason: Reason }, { additionalProperties: false }),
        response: { 200: VoidResponse, ...errorResponses },
      },
    },
    async (request) => {
      const { voided, replacement } = await fastify.numbering.voidNumber(request.params.number, request.body.reason);
      return { voided, replacement: { number: replacement.number, sequence: replacement.sequence, counterKey: replacement.counterKey, voidedFrom: replacement.voidedFrom ?? request.params.number } };
    },
  );
};

export default numbers;

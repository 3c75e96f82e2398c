import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DateTime, errorResponses, NumberRequest, Reason } from '../schemas/common.js';

const ReservationRequest = Type.Object(
  {
    ...NumberRequest.properties,
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'lifetime; default RESERVATION_TTL_SECONDS' })),
  },
  { additionalProperties: false },
);
const Reservation = Type.Object({ token: Type.String(), number: Type.String(), expiresAt: DateTime, sequence: Type.Integer(), counterKey: Type.String() });
const ReservationState = Type.Object({ token: Type.String(), number: Type.String(), state: Type.String(), sequence: Type.Integer(), counterKey: Type.String() });
const TokenParam = Type.Object({ token: Type.String({ format: 'uuid', description: 'token returned by POST /v1/reservations' }) });

const reservations: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/v1/reservations', { schema: { body: ReservationRequest, response: { 201: Reservation, ...errorResponses } } }, async (request, reply) => {
    const { ttlSeconds, ...body } = request.body;
    const r = await fastify.numbering.reserve(body, ttlSeconds);
    return reply.code(201).send({ token: r.token!, number: r.number, expiresAt: r.expiresAt!.toISOString(), sequence: r.sequence, counterKey: r.counterKey });
  });

  fastify.post('/v1/reservations/:token/confirm', { schema: { params: TokenParam, response: { 200: ReservationState, ...errorResponses } } }, async (request) =>
    fastify.numbering.confirm(request.params.token),
  );

  fastify.post(
    '/v1/reservations/:token/cancel',
    {
      schema: { params: TokenParam, body: Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false }), response: { 200: ReservationState, ...errorResponses } },
      // The body (a reason) is optional: a bare POST cancels too.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => fastify.numbering.cancel(request.params.token, request.body.reason),
  );
};

export default reservations;

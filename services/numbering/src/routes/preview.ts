import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses, NumberRequest } from '../schemas/common.js';

const preview: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/v1/preview',
    {
      schema: {
        description: 'The number the next allocation would get right now; consumes nothing (another client may take it first).',
        body: NumberRequest,
        response: { 200: Type.Object({ number: Type.String(), sequence: Type.Integer(), counterKey: Type.String(), consumed: Type.Literal(false) }), ...errorResponses },
      },
    },
    async (request) => ({ ...(await fastify.numbering.preview(request.body)), consumed: false as const }),
  );
};

export default preview;

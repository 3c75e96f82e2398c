import fp from 'fastify-plugin';
import { createFaultPicker, isFaultableUrl } from '../../domain/fault.js';

export const FAULT_CODE = 'FAULT_INJECTED';

/**
 * TEST-ONLY: with `FAULT_HTTP_500_RATIO` > 0 that share of the `/v1/...` requests is answered 500
 * (code FAULT_INJECTED) before any handler runs, so nothing is allocated for them. Registered after
 * the metrics plugin: the answer still carries X-Release and is counted in
 * `http_request_duration_seconds{status_code="500"}`, which is what the canary analysis reads.
 */
export default fp(
  async (fastify) => {
    const ratio = fastify.config.FAULT_HTTP_500_RATIO;
    if (ratio <= 0) return;
    fastify.log.warn(
      { FAULT_HTTP_500_RATIO: ratio, release: fastify.config.RELEASE },
      `TEST-ONLY fault injection is ON: ${+(ratio * 100).toFixed(4)} % of /v1/ requests are answered with 500 ${FAULT_CODE}; unset FAULT_HTTP_500_RATIO outside tests`,
    );
    const pick = createFaultPicker(ratio);
    fastify.addHook('onRequest', async (request, reply) => {
      if (!isFaultableUrl(request.url) || !pick()) return;
      return reply.code(500).send({ statusCode: 500, code: FAULT_CODE, error: 'Internal Server Error', message: `fault injected (FAULT_HTTP_500_RATIO=${ratio}, test only)` });
    });
  },
  { name: 'fault-injection', dependencies: ['config', 'metrics'] },
);

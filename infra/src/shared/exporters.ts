import { endpointString, type PlatformModel } from '@numbering/blueprint';

/**
 * redis-exporter's environment, without the password (Docker adds it as a variable, Kubernetes as a
 * secretKeyRef). Prometheus reads every node through `/scrape?target=redis://node`; REDIS_ADDR is only
 * the node behind the exporter's own /metrics.
 */
export function redisExporterEnv(model: PlatformModel): Record<string, string> {
  const first = model.redis.nodes[0];
  if (!first) throw new Error('redis.masters: the model has no Redis node');
  return {
    REDIS_ADDR: `redis://${endpointString(first)}`,
    REDIS_USER: 'exporter',
    // CONFIG GET would return masterauth; the exporter ACL user may not run it (REDIS_EXPORTER_COMMANDS).
    REDIS_EXPORTER_CONFIG_COMMAND: '-',
    REDIS_EXPORTER_WEB_LISTEN_ADDRESS: `0.0.0.0:${model.redis.exporter.port}`,
  };
}

/** The exporters' HTTP paths used as health checks and probes. */
export const EXPORTER_HEALTH_PATH = { redis: '/health', mysqld: '/' } as const;

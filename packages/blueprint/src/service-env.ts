import { endpointString, type PlatformModel, type ServiceRelease } from './model.js';
import type { PlatformSecrets } from './secrets.js';

/**
 * The numbering service is configured only by environment variables; this is the one place that
 * maps the platform onto them, for every target. The service validates them at start-up
 * (services/numbering/src/config.ts) with the same names.
 */
export function serviceEnvironment(model: PlatformModel, release: ServiceRelease, secrets: PlatformSecrets): Record<string, string> {
  const local = model.target === 'local';
  return {
    HOST: local ? release.host : '0.0.0.0',
    PORT: String(release.port),
    RELEASE: release.release,
    SERVICE_VERSION: release.version,
    LOG_LEVEL: model.service.logLevel,
    DB_HOST: model.mariadb.host,
    DB_PORT: String(model.mariadb.port),
    DB_NAME: model.mariadb.config.database,
    DB_USER: model.mariadb.config.appUser,
    DB_PASSWORD: secrets.mariadb.app,
    DB_POOL_SIZE: String(model.mariadb.config.poolSize),
    REDIS_NODES: model.redis.nodes.map(endpointString).join(','),
    REDIS_USER: 'app',
    REDIS_PASSWORD: secrets.redis.app,
    ADMIN_TOKEN: secrets.service.adminToken,
    RESERVATION_TTL_SECONDS: String(model.service.reservationTtlSeconds),
    LOCK_TIMEOUT_MS: String(model.service.lockTimeoutMs),
  };
}

/** Environment of the one-shot migration run (as the `migrator` user, which may run DDL). */
export function migrationEnvironment(model: PlatformModel, secrets: PlatformSecrets): Record<string, string> {
  return {
    DB_HOST: model.mariadb.host,
    DB_PORT: String(model.mariadb.port),
    DB_NAME: model.mariadb.config.database,
    DB_USER: 'migrator',
    DB_PASSWORD: secrets.mariadb.migrator,
  };
}

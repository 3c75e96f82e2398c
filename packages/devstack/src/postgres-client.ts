import type { PlatformModel, PlatformSecrets } from '@numbering/blueprint';
import pgLib from 'pg';

/**
 * A PostgreSQL client of the platform's app user on one devstack port: HAProxy's primary or replica
 * port, PgBouncer, or a member directly. For checks and tests in packages that do not depend on `pg`
 * themselves (the canary end-to-end test writes through HAProxy during a failover with it).
 */
export function postgresAppClient(model: PlatformModel, secrets: PlatformSecrets, port: number, opts: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): pgLib.Client {
  const client = new pgLib.Client({
    host: model.postgres.haproxy.host,
    port,
    user: model.postgres.config.appUser,
    password: secrets.postgres.app,
    database: model.postgres.config.database,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 1000,
    query_timeout: opts.queryTimeoutMs ?? 3000,
  });
  // A server that dies mid-session emits 'error' on the idle client; the next query reports it instead.
  client.on('error', () => undefined);
  return client;
}

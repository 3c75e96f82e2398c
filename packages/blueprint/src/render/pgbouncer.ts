import type { PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';
import { POSTGRES_ROLES } from './patroni.js';

/** Name of the read-only PgBouncer database (routed to HAProxy's replicas port). */
export const readOnlyDatabase = (database: string) => `${database}_ro`;

/** pgbouncer.ini in front of HAProxy (server_login_retry = 1). */
export function renderPgbouncerIni(model: PlatformModel): string {
  const pg = model.postgres;
  const cfg = pg.config;
  const bouncer = pg.pgbouncer;
  const local = model.target === 'local';
  if (!bouncer.authFile) throw new Error('postgres.pgbouncer.authFile: PgBouncer needs an auth_file');
  const db = cfg.database;
  const target = (port: number) => `host=${pg.haproxy.host} port=${port} dbname=${db}`;
  return [
    `; generated from the platform model (${model.target}); do not edit`,
    '[databases]',
    // Writes go to HAProxy's primary port, reads that tolerate lag to its replicas port.
    `${db} = ${target(pg.haproxy.primaryPort)}`,
    `${readOnlyDatabase(db)} = ${target(pg.haproxy.replicaPort)}`,
    '',
    '[pgbouncer]',
    `listen_addr = ${local ? bouncer.host : '0.0.0.0'}`,
    `listen_port = ${bouncer.port}`,
    // The devstack has no socket directory of its own to offer; containers keep the image default.
    ...(local ? ['unix_socket_dir ='] : []),
    'auth_type = scram-sha-256',
    `auth_file = ${bouncer.authFile}`,
    `admin_users = ${POSTGRES_ROLES.superuser}`,
    `stats_users = ${POSTGRES_ROLES.superuser}`,
    `pool_mode = ${cfg.pgbouncerPoolMode}`,
    `max_client_conn = ${cfg.pgbouncerMaxClientConn}`,
    `default_pool_size = ${cfg.pgbouncerDefaultPoolSize}`,
    // The default (15 s) makes PgBouncer wait that long after one failed login to the old primary
    // before it tries again: measured 15.1 s instead of 10.3 s of write outage per failover.
    'server_login_retry = 1',
    'server_connect_timeout = 2',
    // Check a pooled server connection before every reuse, so one to a demoted primary is dropped, not handed out.
    'server_check_delay = 0',
    // JDBC and some drivers send these; PgBouncer would refuse the login otherwise.
    'ignore_startup_parameters = extra_float_digits',
    // Containers log to stderr and need no pidfile.
    ...(bouncer.logfile ? [`logfile = ${bouncer.logfile}`] : []),
    ...(bouncer.pidfile ? [`pidfile = ${bouncer.pidfile}`] : []),
    '',
  ].join('\n');
}

/** One userlist.txt entry; a double quote inside a name or password is written twice. */
const userlistEntry = (user: string, password: string) => `"${user.replaceAll('"', '""')}" "${password.replaceAll('"', '""')}"`;

/**
 * userlist.txt for auth_file: the app user and the superuser (admin console). Plain passwords, so the file
 * does not depend on the salt PostgreSQL picked for its SCRAM verifier: PgBouncer authenticates clients with
 * SCRAM and logs in to PostgreSQL with SCRAM itself.
 */
export function renderPgbouncerUserlist(model: PlatformModel, secrets: PlatformSecrets): string {
  const entries: [string, string][] = [
    [model.postgres.config.appUser, secrets.postgres.app],
    [POSTGRES_ROLES.superuser, secrets.postgres.superuser],
  ];
  for (const [user, password] of entries) {
    if (!password) throw new Error(`secrets.postgres: empty password for ${user}`);
    if (/[\n\r]/.test(password)) throw new Error(`secrets.postgres: password of ${user} must not contain a line break`);
  }
  return `${entries.map(([u, p]) => userlistEntry(u, p)).join('\n')}\n`;
}

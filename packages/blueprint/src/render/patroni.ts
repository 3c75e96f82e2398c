import { stringify } from 'yaml';
import { endpointString, type PatroniMember, type PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';
import { ARCHIVE_TIMEOUT } from './pgbackrest.js';

/**
 * Roles Patroni itself manages. The names are fixed here (not secrets): only the passwords vary.
 * The rewind user differs from the superuser so pg_rewind runs with the four functions it needs only.
 */
export const POSTGRES_ROLES = { superuser: 'postgres', replication: 'replicator', rewind: 'rewind_user' } as const;

/** Basic-auth user guarding Patroni's unsafe REST endpoints (POST/PATCH/PUT/DELETE). */
export const PATRONI_REST_USER = 'patroni';

export interface PatroniRenderOptions {
  /**
   * Absolute path, as Patroni sees it, of the file holding `renderPostgresBootstrapSql`. When set,
   * Patroni runs it once through `psql` (`bootstrap.post_bootstrap`) right after initdb on the member
   * that bootstraps the cluster, so the app database and user exist before anyone can connect.
   * Without it the caller must run that SQL itself (for example a Kubernetes Job).
   */
  postBootstrapSqlFile?: string;
  /**
   * Continuous WAL archiving (`pgbackrestArchiveCommand`): this member's archive_command, with
   * archive_mode on and archive_timeout bounding how old the newest archived transaction can be.
   * Per member (not in bootstrap.dcs), because the command names the member's own data dir.
   */
  archiveCommand?: string;
}

const isLocal = (model: PlatformModel) => model.target === 'local';

/** Refuses timings under which Patroni can lose the leader lock while it is still retrying the DCS. */
export function assertPatroniTimings(model: PlatformModel): void {
  const { ttl, loopWait, retryTimeout } = model.postgres.config;
  if (loopWait + 2 * retryTimeout > ttl) {
    throw new Error(
      `postgres.ttl: Patroni needs loop_wait + 2*retry_timeout <= ttl, got ${loopWait} + 2*${retryTimeout} = ${loopWait + 2 * retryTimeout} > ${ttl}`,
    );
  }
}

/**
 * Client networks allowed by pg_hba. Passwords (SCRAM) are always required; the network list only
 * keeps out what can never be a legitimate client. The devstack listens on loopback only. Docker puts
 * every container on one bridge network, which `samenet` matches exactly. Pods on Kubernetes come
 * from other nodes' pod subnets (so `samenet` would be too narrow) and the pod CIDR is not known
 * here: allow the private ranges (RFC 1918 and the RFC 6598 range some CNIs use) and leave the
 * fencing to a NetworkPolicy.
 */
export function postgresClientNetworks(model: PlatformModel): string[] {
  if (isLocal(model)) return ['127.0.0.1/32'];
  // Patroni's own local connections go to "localhost", which may resolve to ::1 inside a container.
  const local = ['127.0.0.1/32', '::1/128'];
  if (model.target === 'docker') return [...local, 'samenet'];
  return [...local, '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];
}

export function renderPgHba(model: PlatformModel): string[] {
  const networks = postgresClientNetworks(model);
  return [
    // Unix socket: only the OS user of the same name (postgres -> postgres); everybody else uses TCP and a password.
    'local all all peer',
    ...networks.map((net) => `host replication ${POSTGRES_ROLES.replication} ${net} scram-sha-256`),
    ...networks.map((net) => `host all all ${net} scram-sha-256`),
  ];
}

function dcsSection(model: PlatformModel, member: PatroniMember): Record<string, unknown> {
  const dcs = model.postgres.dcs;
  if (dcs.kind === 'etcd3') {
    if (!dcs.hosts.length) throw new Error('postgres.dcs.hosts: etcd3 needs at least one etcd client endpoint');
    // etcd3: Patroni 3.0 speaks etcd's v3 JSON gateway, so etcd needs no --enable-v2.
    return { etcd3: { hosts: dcs.hosts.map(endpointString) } };
  }
  return {
    kubernetes: {
      namespace: dcs.namespace,
      labels: dcs.labels,
      // Leader election on the `<scope>` Endpoints object, which also routes the primary Service to the leader.
      use_endpoints: true,
      // pod_ip is left to the environment: the StatefulSet sets PATRONI_KUBERNETES_POD_IP from the downward
      // API (status.podIP), which Patroni writes into that Endpoints object when it becomes leader.
      // The port name must match the port name of the `<scope>` Service.
      ports: [{ name: 'postgresql', port: member.pgPort }],
    },
  };
}

/** patroni.yml of one member (etcd3 DCS, or the Kubernetes API on kubernetes). */
export function renderPatroniConfig(model: PlatformModel, member: PatroniMember, secrets: PlatformSecrets, opts: PatroniRenderOptions = {}): string {
  assertPatroniTimings(model);
  const pg = model.postgres;
  const cfg = pg.config;
  if (!pg.members.some((m) => m.name === member.name)) throw new Error(`postgres.members: ${member.name} is not a member of ${pg.scope}`);
  for (const [key, value] of Object.entries(secrets.postgres)) {
    if (!value) throw new Error(`secrets.postgres.${key}: empty password`);
  }
  // On loopback every member shares 127.0.0.1, so each listens on exactly its own address; containers listen on all interfaces.
  const listenHost = isLocal(model) ? member.host : '0.0.0.0';
  const pgHba = renderPgHba(model);

  const config: Record<string, unknown> = {
    scope: pg.scope,
    namespace: pg.namespace,
    name: member.name,
    // Containers log to stderr; the devstack keeps Patroni's own log (rotated by Patroni) beside the data.
    log: isLocal(model) ? { level: 'INFO', dir: member.logDir } : { level: 'INFO' },
    restapi: {
      listen: `${listenHost}:${member.restPort}`,
      connect_address: `${member.host}:${member.restPort}`,
      // GET endpoints (health checks, /metrics) stay open; POST/PATCH/PUT/DELETE need this. PATCH /config can set
      // archive_command, i.e. run commands as postgres, so it gets the superuser's password: no new privilege.
      authentication: { username: PATRONI_REST_USER, password: secrets.postgres.superuser },
    },
    ...dcsSection(model, member),
    bootstrap: {
      // Written to the DCS once, by the member that bootstraps; later changes go through PATCH /config.
      dcs: {
        ttl: cfg.ttl,
        loop_wait: cfg.loopWait,
        retry_timeout: cfg.retryTimeout,
        maximum_lag_on_failover: cfg.maximumLagOnFailover,
        synchronous_mode: cfg.synchronousMode,
        failsafe_mode: cfg.failsafeMode,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          // Settings every member must share (a replica refuses to start with fewer max_connections than its primary).
          parameters: {
            wal_level: 'replica',
            hot_standby: 'on',
            max_connections: cfg.maxConnections,
            max_wal_senders: Math.max(10, 2 * pg.members.length),
            max_replication_slots: Math.max(10, 2 * pg.members.length),
            wal_log_hints: 'on',
            wal_keep_size: '128MB',
            shared_buffers: cfg.sharedBuffers,
            password_encryption: 'scram-sha-256',
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums', { 'auth-local': 'peer' }, { 'auth-host': 'scram-sha-256' }],
      // Required by `patroni --validate-config`; postgresql.pg_hba below is what every member actually writes.
      pg_hba: pgHba,
      ...(opts.postBootstrapSqlFile
        ? // Patroni appends the superuser DSN and sets PGPASSFILE; -X ignores any psqlrc.
          { post_bootstrap: `${pg.binDir}/psql -X -q -v ON_ERROR_STOP=1 -f ${opts.postBootstrapSqlFile}` }
        : {}),
    },
    postgresql: {
      listen: `${listenHost}:${member.pgPort}`,
      connect_address: `${member.host}:${member.pgPort}`,
      data_dir: member.dataDir,
      bin_dir: pg.binDir,
      pgpass: member.pgpass,
      authentication: {
        superuser: { username: POSTGRES_ROLES.superuser, password: secrets.postgres.superuser },
        replication: { username: POSTGRES_ROLES.replication, password: secrets.postgres.replication },
        rewind: { username: POSTGRES_ROLES.rewind, password: secrets.postgres.rewind },
      },
      parameters: {
        unix_socket_directories: member.socketDir,
        // Only a primary archives (archive_mode on, not always); after a failover the new primary takes over.
        ...(opts.archiveCommand ? { archive_mode: 'on', archive_command: opts.archiveCommand, archive_timeout: ARCHIVE_TIMEOUT } : {}),
      },
      // Rewritten by Patroni on every start, so a re-rendered file takes effect on all members alike.
      pg_hba: pgHba,
      // A fast checkpoint lets a new replica start copying at once instead of after a spread checkpoint.
      basebackup: [{ checkpoint: 'fast' }],
    },
    // No /dev/watchdog on the devstack or in unprivileged containers.
    watchdog: { mode: 'off' },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  // YAML 1.1 output quotes on/off/yes/no: Patroni reads the file with PyYAML, which would turn them into booleans.
  return `# generated from the platform model (${model.target}); do not edit\n${stringify(config, { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' })}`;
}

const quoteLiteral = (s: string) => `'${s.replaceAll("'", "''")}'`;
const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * psql script that creates (or updates) the application user and database. Idempotent, so it can run
 * as Patroni's post_bootstrap, from a Kubernetes Job, or again after a password rotation.
 * PostgreSQL 15 lets only the database owner create in `public`, so the app user owns its database.
 */
export function renderPostgresBootstrapSql(model: PlatformModel, secrets: PlatformSecrets): string {
  const { appUser, database } = model.postgres.config;
  if (!secrets.postgres.app) throw new Error('secrets.postgres.app: empty password');
  const user = quoteIdent(appUser);
  const db = quoteIdent(database);
  return [
    '-- generated from the platform model; run with psql -v ON_ERROR_STOP=1 as the superuser',
    'SET log_statement = none;',
    'DO $bootstrap$',
    'BEGIN',
    `  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${quoteLiteral(appUser)}) THEN`,
    `    ALTER ROLE ${user} WITH LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD ${quoteLiteral(secrets.postgres.app)};`,
    '  ELSE',
    `    CREATE ROLE ${user} WITH LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD ${quoteLiteral(secrets.postgres.app)};`,
    '  END IF;',
    'END',
    '$bootstrap$;',
    // CREATE DATABASE cannot run inside DO/transactions: generate it only when missing and execute it with \gexec.
    `SELECT ${quoteLiteral(`CREATE DATABASE ${db} OWNER ${user} ENCODING 'UTF8'`)} WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = ${quoteLiteral(database)})\\gexec`,
    `ALTER DATABASE ${db} OWNER TO ${user};`,
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC;`,
    `GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${user};`,
    '',
  ].join('\n');
}

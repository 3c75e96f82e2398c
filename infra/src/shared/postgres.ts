import type { Endpoint, PlatformModel } from '@numbering/blueprint';

/**
 * How the PostgreSQL image runs our patroni.yml. `postgres.image` defaults to Zalando's Spilo, used
 * here as a PostgreSQL 16 + Patroni (with the etcd3 and Kubernetes DCS modules) bundle whose paths
 * match the model (/home/postgres/pgdata/pgroot/data, /usr/lib/postgresql/16/bin). Its own launcher
 * (`/launch.sh`, configure_spilo.py) is bypassed on purpose: it generates a different patroni.yml from
 * SPILO_* / ETCD_* variables and merges SPILO_CONFIGURATION into it, so what ran would not be the
 * file `renderPatroniConfig` produced and `patroni --validate-config` checked. Patroni is started
 * directly on the rendered file instead.
 */
export const POSTGRES_PATHS = {
  configDir: '/etc/patroni',
  /** Per member: the rendered file of the member the container is. */
  config: '/etc/patroni/patroni.yml',
  bootstrapSql: '/etc/patroni/bootstrap.sql',
  /** The volume: Patroni/initdb create pgroot/data below it. */
  dataRoot: '/home/postgres/pgdata',
  socketDir: '/var/run/postgresql',
  haproxyConfig: '/usr/local/etc/haproxy/haproxy.cfg',
  pgbouncerDir: '/etc/pgbouncer',
  pgbouncerIni: '/etc/pgbouncer/pgbouncer.ini',
  /** Bitnami's layout; their entrypoint would generate its own ini from PGBOUNCER_* variables. */
  pgbouncerBinary: '/opt/bitnami/pgbouncer/bin/pgbouncer',
} as const;

/** Spilo's postgres user and group (Patroni and PostgreSQL refuse to run as root). */
export const POSTGRES_UID = 101;
export const POSTGRES_GID = 103;
/** The PgBouncer image's non-root user. */
export const PGBOUNCER_UID = 1001;

/** etcd's peer port: not in the model (only clients and Prometheus talk to etcd, on the client port). */
export const ETCD_PEER_PORT = 2380;
export const ETCD_DATA_DIR = '/etcd-data';

/** etcd members of the Docker target (the Kubernetes target uses the Kubernetes API as DCS). */
export function etcdMembers(model: PlatformModel): Endpoint[] {
  const dcs = model.postgres.dcs;
  if (dcs.kind !== 'etcd3') throw new Error(`postgres: the ${model.target} target uses the ${dcs.kind} DCS, not etcd`);
  if (!dcs.hosts.length) throw new Error('postgres.dcs.hosts: etcd3 needs at least one member');
  return dcs.hosts;
}

/** Command line of one etcd member of a static cluster (built here: the blueprint renders no etcd config). */
export function etcdArgs(model: PlatformModel, member: Endpoint): string[] {
  const members = etcdMembers(model);
  const peer = (e: Endpoint) => `http://${e.host}:${ETCD_PEER_PORT}`;
  return [
    'etcd',
    `--name=${member.host}`,
    `--data-dir=${ETCD_DATA_DIR}`,
    `--listen-client-urls=http://0.0.0.0:${member.port}`,
    `--advertise-client-urls=http://${member.host}:${member.port}`,
    `--listen-peer-urls=http://0.0.0.0:${ETCD_PEER_PORT}`,
    `--initial-advertise-peer-urls=${peer(member)}`,
    `--initial-cluster=${members.map((m) => `${m.host}=${peer(m)}`).join(',')}`,
    '--initial-cluster-state=new',
    `--initial-cluster-token=${model.postgres.scope}-etcd`,
    // Measured in the Patroni recipe: leader election in 0.3-2.4 s with these timings.
    '--heartbeat-interval=100',
    '--election-timeout=1000',
    '--auto-compaction-mode=periodic',
    '--auto-compaction-retention=1h',
    '--logger=zap',
  ];
}

/** Patroni REST endpoints (docs/rest_api.rst): `/health` = PostgreSQL is running; liveness/readiness for probes. */
export const PATRONI_HEALTH = { health: '/health', liveness: '/liveness', readiness: '/readiness' } as const;

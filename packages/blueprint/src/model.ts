import type { PlatformConfig, Target } from './config.js';

/**
 * The platform model: every node of every component with its address, ports and paths on the
 * chosen target. Renderers read only this (plus secrets), so the knowledge of where things are
 * lives here once and the config files for Docker, Kubernetes and the devstack cannot drift apart.
 */

export interface Endpoint {
  host: string;
  port: number;
}

export const endpointString = (e: Endpoint) => `${e.host}:${e.port}`;

export interface RedisNode extends Endpoint {
  /** `redis-0` … `redis-5`: container, pod and devstack directory name. */
  name: string;
  busPort: number;
  /** Hostname other nodes and clients use (`cluster-announce-hostname`), empty on the devstack. */
  announceHostname: string;
  dir: string;
  /** Empty means log to stdout (containers). */
  logfile: string;
  pidfile: string;
  daemonize: boolean;
}

export interface RedisModel {
  nodes: RedisNode[];
  masters: number;
  replicasPerMaster: number;
  nodeTimeoutMs: number;
  maxmemoryMb: number;
  appendfsync: 'always' | 'everysec' | 'no';
  /** ACL file path as seen by redis-server. */
  aclFile: string;
  exporter: Endpoint;
  image: string;
}

export interface MariaDbModel extends Endpoint {
  name: string;
  datadir: string;
  socket: string;
  pidFile: string;
  logDir: string;
  binlogBasename: string;
  /** `user=` in the cnf: needed when mariadbd starts as root (devstack), empty in containers. */
  runAsUser: string;
  exporter: Endpoint;
  config: PlatformConfig['mariadb'];
}

export interface ServiceRelease extends Endpoint {
  release: 'stable' | 'canary';
  name: string;
  version: string;
  image: string;
}

export interface ServiceModel {
  releases: [ServiceRelease, ServiceRelease];
  reservationTtlSeconds: number;
  lockTimeoutMs: number;
  logLevel: string;
  replicas: number;
  maxReplicas: number;
}

export interface CanaryModel {
  weight: number;
  listen: Endpoint;
  /** nginx prefix directory (pid, logs, temp paths resolve against it). */
  prefix: string;
  pidFile: string;
  /** Empty means log to stderr (containers). */
  errorLog: string;
  accessLog: string;
  workerProcesses: number | 'auto';
  image: string;
}

export interface PatroniMember {
  name: string;
  host: string;
  pgPort: number;
  restPort: number;
  dataDir: string;
  logDir: string;
  socketDir: string;
  pgpass: string;
}

export interface PostgresModel {
  scope: string;
  namespace: string;
  dcs: { kind: 'etcd3'; hosts: Endpoint[] } | { kind: 'kubernetes'; namespace: string; labels: Record<string, string> };
  members: PatroniMember[];
  binDir: string;
  haproxy: { host: string; primaryPort: number; replicaPort: number; statsPort: number };
  pgbouncer: Endpoint & { logfile: string; pidfile: string; authFile: string };
  /**
   * pgBackRest in TLS server mode (containers, where each member is its own pod): the repository
   * host's name (`pgbackrest-0`, a StatefulSet pod) and the port every `pgbackrest server` listens on,
   * the repository host's and each member's sidecar alike. The devstack shares one local
   * pgbackrest.conf instead; its values here are placeholders.
   */
  pgbackrest: { repoHost: string; tlsPort: number };
  config: PlatformConfig['postgres'];
}

export interface MonitoringModel {
  prometheus: Endpoint & { dataDir: string; configDir: string };
  alertmanager: Endpoint & { dataDir: string };
  grafana: Endpoint;
  /** Local webhook receiver the devstack runs; on real stacks, the Telegram-style bridge. */
  webhook: Endpoint;
  config: PlatformConfig['monitoring'];
  /** Patroni /metrics and the etcd metrics port per member. */
  etcdMetrics: Endpoint[];
}

export interface PlatformModel {
  target: Target;
  namespace: string;
  config: PlatformConfig;
  redis: RedisModel;
  mariadb: MariaDbModel;
  service: ServiceModel;
  canary: CanaryModel;
  postgres: PostgresModel;
  monitoring: MonitoringModel;
}

/** Fixed devstack ports (before `local.portOffset`). Chosen away from every daemon's default. */
export const LOCAL_PORTS = {
  redisBase: 7001, // 7001..7006, cluster bus +10000
  redisExporter: 9121,
  mariadb: 3307,
  mysqldExporter: 9104,
  serviceStable: 3101,
  serviceCanary: 3102,
  nginx: 8080,
  prometheus: 9090,
  alertmanager: 9093,
  webhook: 9095,
  grafana: 3000,
  etcdClient: 12379,
  etcdPeer: 12380,
  etcdMetrics: 12381,
  pgBase: 5441,
  patroniRestBase: 8008,
  haproxyPrimary: 5000,
  haproxyReplicas: 5001,
  haproxyStats: 7000,
  pgbouncer: 6432,
} as const;

/** pgBackRest's own default for `tls-server-port`. */
const PGBACKREST_TLS_PORT = 8432;

/** Highest port the devstack uses, for the offset bound. */
export const LOCAL_MAX_PORT = 17_100;

const CONTAINER_PORTS = {
  redis: 6379,
  redisExporter: 9121,
  mariadb: 3306,
  mysqldExporter: 9104,
  service: 3000,
  nginx: 8080,
  prometheus: 9090,
  alertmanager: 9093,
  webhook: 9095,
  grafana: 3000,
  etcdClient: 2379,
  pg: 5432,
  patroniRest: 8008,
  haproxyPrimary: 5000,
  haproxyReplicas: 5001,
  haproxyStats: 7000,
  pgbouncer: 6432,
} as const;

/** Builds the model for the config's target. `workdir` is absolute on the devstack. */
export function buildPlatform(config: PlatformConfig, opts: { workdir?: string } = {}): PlatformModel {
  return config.target === 'local' ? buildLocal(config, opts.workdir ?? config.local.workdir) : buildContainers(config);
}

function redisNodeCount(config: PlatformConfig) {
  return config.redis.masters * (1 + config.redis.replicasPerMaster);
}

function buildLocal(config: PlatformConfig, workdir: string): PlatformModel {
  const o = config.local.portOffset;
  const lo = (port: number): Endpoint => ({ host: '127.0.0.1', port: port + o });
  const w = (...parts: string[]) => [workdir, ...parts].join('/');
  const redisNodes: RedisNode[] = Array.from({ length: redisNodeCount(config) }, (_, i) => {
    const port = LOCAL_PORTS.redisBase + i + o;
    return {
      name: `redis-${i}`,
      host: '127.0.0.1',
      port,
      busPort: port + 10_000,
      announceHostname: '',
      dir: w('redis', `redis-${i}`),
      logfile: w('redis', `redis-${i}`, 'redis.log'),
      pidfile: w('redis', `redis-${i}`, 'redis.pid'),
      daemonize: false,
    };
  });
  const members: PatroniMember[] = Array.from({ length: config.postgres.members }, (_, i) => ({
    name: `pg-${i}`,
    host: '127.0.0.1',
    pgPort: LOCAL_PORTS.pgBase + i + o,
    restPort: LOCAL_PORTS.patroniRestBase + i + o,
    dataDir: w('postgres', `pg-${i}`, 'data'),
    logDir: w('postgres', `pg-${i}`, 'log'),
    socketDir: w('postgres', `pg-${i}`),
    pgpass: w('postgres', `pg-${i}`, 'pgpass'),
  }));
  return {
    target: 'local',
    namespace: config.namespace,
    config,
    redis: {
      nodes: redisNodes,
      masters: config.redis.masters,
      replicasPerMaster: config.redis.replicasPerMaster,
      nodeTimeoutMs: config.redis.nodeTimeoutMs,
      maxmemoryMb: config.redis.maxmemoryMb,
      appendfsync: config.redis.appendfsync,
      aclFile: w('redis', 'users.acl'),
      exporter: lo(LOCAL_PORTS.redisExporter),
      image: config.redis.image,
    },
    mariadb: {
      name: 'mariadb',
      ...lo(LOCAL_PORTS.mariadb),
      datadir: w('mariadb', 'data'),
      socket: w('mariadb', 'mariadb.sock'),
      pidFile: w('mariadb', 'mariadb.pid'),
      logDir: w('mariadb', 'log'),
      binlogBasename: w('mariadb', 'binlog', 'mariadb-bin'),
      runAsUser: 'mysql',
      exporter: lo(LOCAL_PORTS.mysqldExporter),
      config: config.mariadb,
    },
    service: serviceModel(config, lo(LOCAL_PORTS.serviceStable), lo(LOCAL_PORTS.serviceCanary)),
    canary: {
      weight: config.canary.weight,
      listen: lo(LOCAL_PORTS.nginx),
      prefix: w('nginx'),
      pidFile: w('nginx', 'nginx.pid'),
      errorLog: w('nginx', 'logs', 'error.log'),
      accessLog: w('nginx', 'logs', 'access.log'),
      workerProcesses: 2,
      image: config.service.nginxImage,
    },
    postgres: {
      scope: config.postgres.scope,
      namespace: '/service/',
      dcs: { kind: 'etcd3', hosts: [lo(LOCAL_PORTS.etcdClient)] },
      members,
      binDir: '/usr/lib/postgresql/15/bin',
      haproxy: { host: '127.0.0.1', primaryPort: LOCAL_PORTS.haproxyPrimary + o, replicaPort: LOCAL_PORTS.haproxyReplicas + o, statsPort: LOCAL_PORTS.haproxyStats + o },
      pgbouncer: { ...lo(LOCAL_PORTS.pgbouncer), logfile: w('pgbouncer', 'pgbouncer.log'), pidfile: w('pgbouncer', 'pgbouncer.pid'), authFile: w('pgbouncer', 'userlist.txt') },
      // Not opened by the devstack: a TLS layout on one machine needs a distinct port per server, which only the caller knows.
      pgbackrest: { repoHost: '127.0.0.1', tlsPort: PGBACKREST_TLS_PORT },
      config: config.postgres,
    },
    monitoring: {
      prometheus: { ...lo(LOCAL_PORTS.prometheus), dataDir: w('prometheus', 'data'), configDir: w('prometheus') },
      alertmanager: { ...lo(LOCAL_PORTS.alertmanager), dataDir: w('alertmanager', 'data') },
      grafana: lo(LOCAL_PORTS.grafana),
      webhook: lo(LOCAL_PORTS.webhook),
      config: config.monitoring,
      etcdMetrics: [lo(LOCAL_PORTS.etcdMetrics)],
    },
  };
}

/**
 * Docker and Kubernetes share container-side ports and paths; they differ only in how names
 * resolve: Docker's embedded DNS answers container names, Kubernetes answers per-pod names of a
 * headless Service (`redis-0.redis.<ns>.svc.cluster.local`), which stay stable across pod IP changes.
 */
function buildContainers(config: PlatformConfig): PlatformModel {
  const k8s = config.target === 'kubernetes';
  const ns = config.namespace;
  const svc = (name: string) => (k8s ? `${name}.${ns}.svc.cluster.local` : name);
  const pod = (set: string, i: number) => (k8s ? `${set}-${i}.${set}.${ns}.svc.cluster.local` : `${set}-${i}`);
  const c = CONTAINER_PORTS;
  const redisNodes: RedisNode[] = Array.from({ length: redisNodeCount(config) }, (_, i) => ({
    name: `redis-${i}`,
    host: pod('redis', i),
    port: c.redis,
    busPort: c.redis + 10_000,
    announceHostname: pod('redis', i),
    dir: '/data',
    logfile: '',
    pidfile: '/tmp/redis.pid',
    daemonize: false,
  }));
  const members: PatroniMember[] = Array.from({ length: config.postgres.members }, (_, i) => ({
    name: `postgres-${i}`,
    host: pod('postgres', i),
    pgPort: c.pg,
    restPort: c.patroniRest,
    dataDir: '/home/postgres/pgdata/pgroot/data',
    logDir: '/home/postgres/pgdata/pgroot/pg_log',
    socketDir: '/var/run/postgresql',
    pgpass: '/tmp/pgpass',
  }));
  const etcdHosts: Endpoint[] = k8s ? [] : [0, 1, 2].map((i) => ({ host: `etcd-${i}`, port: c.etcdClient }));
  return {
    target: config.target,
    namespace: ns,
    config,
    redis: {
      nodes: redisNodes,
      masters: config.redis.masters,
      replicasPerMaster: config.redis.replicasPerMaster,
      nodeTimeoutMs: config.redis.nodeTimeoutMs,
      maxmemoryMb: config.redis.maxmemoryMb,
      appendfsync: config.redis.appendfsync,
      aclFile: '/etc/redis/users.acl',
      exporter: { host: svc('redis-exporter'), port: c.redisExporter },
      image: config.redis.image,
    },
    mariadb: {
      name: 'mariadb',
      host: k8s ? pod('mariadb', 0) : 'mariadb',
      port: c.mariadb,
      datadir: '/var/lib/mysql',
      socket: '/run/mysqld/mysqld.sock',
      pidFile: '/run/mysqld/mysqld.pid',
      logDir: '/var/lib/mysql/log',
      binlogBasename: '/var/lib/mysql/binlog/mariadb-bin',
      runAsUser: '',
      exporter: { host: svc('mysqld-exporter'), port: c.mysqldExporter },
      config: config.mariadb,
    },
    service: serviceModel(config, { host: svc('numbering-stable'), port: c.service }, { host: svc('numbering-canary'), port: c.service }),
    canary: {
      weight: config.canary.weight,
      listen: { host: '0.0.0.0', port: c.nginx },
      prefix: '/etc/nginx',
      pidFile: '/tmp/nginx.pid',
      errorLog: '',
      accessLog: '/dev/stdout',
      workerProcesses: 'auto',
      image: config.service.nginxImage,
    },
    postgres: {
      scope: config.postgres.scope,
      namespace: '/service/',
      dcs: k8s
        ? { kind: 'kubernetes', namespace: ns, labels: { 'app.kubernetes.io/name': 'postgres', cluster: config.postgres.scope } }
        : { kind: 'etcd3', hosts: etcdHosts },
      members,
      binDir: '/usr/lib/postgresql/16/bin',
      haproxy: { host: svc('haproxy'), primaryPort: c.haproxyPrimary, replicaPort: c.haproxyReplicas, statsPort: c.haproxyStats },
      pgbouncer: { host: svc('pgbouncer'), port: c.pgbouncer, logfile: '', pidfile: '', authFile: '/etc/pgbouncer/userlist.txt' },
      pgbackrest: { repoHost: pod('pgbackrest', 0), tlsPort: PGBACKREST_TLS_PORT },
      config: config.postgres,
    },
    monitoring: {
      prometheus: { host: svc('prometheus'), port: c.prometheus, dataDir: '/prometheus', configDir: '/etc/prometheus' },
      alertmanager: { host: svc('alertmanager'), port: c.alertmanager, dataDir: '/alertmanager' },
      grafana: { host: svc('grafana'), port: c.grafana },
      webhook: { host: svc('alert-webhook'), port: c.webhook },
      config: config.monitoring,
      etcdMetrics: etcdHosts.map((h) => ({ host: h.host, port: c.etcdClient })),
    },
  };
}

function serviceModel(config: PlatformConfig, stable: Endpoint, canary: Endpoint): ServiceModel {
  const s = config.service;
  return {
    releases: [
      { release: 'stable', name: 'numbering-stable', version: config.canary.stableVersion, image: `${s.image}:${config.canary.stableVersion}`, ...stable },
      { release: 'canary', name: 'numbering-canary', version: config.canary.canaryVersion, image: `${s.image}:${config.canary.canaryVersion}`, ...canary },
    ],
    reservationTtlSeconds: s.reservationTtlSeconds,
    lockTimeoutMs: s.lockTimeoutMs,
    logLevel: s.logLevel,
    replicas: s.replicas,
    maxReplicas: s.maxReplicas,
  };
}

import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { LOCAL_MAX_PORT } from './model.js';

/**
 * The typed stack configuration. One schema serves all three targets: Pulumi stack config
 * (`Pulumi.<stack>.yaml`), the devstack and the tests. Every leaf has a default so that an
 * empty stack is a working stack; every check that needs more than one key lives in
 * `crossChecks` so the error can name the key a user has to change.
 */

const Int = (opts: { minimum?: number; maximum?: number; default: number; description: string }) =>
  Type.Integer(opts);
const Size = (def: string, description: string) =>
  Type.String({ pattern: '^[0-9]+[KMG]?$', default: def, description });
const Image = (def: string) =>
  Type.String({ pattern: '^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$', default: def, description: 'container image, pinned by tag' });

export const TargetSchema = Type.Union([Type.Literal('docker'), Type.Literal('kubernetes'), Type.Literal('local')], {
  default: 'local',
  description: 'where the platform runs: docker (dev stack), kubernetes (prod stack), local (devstack processes)',
});
export type Target = Static<typeof TargetSchema>;

export const CanaryConfigSchema = Type.Object({
  weight: Int({ minimum: 0, maximum: 100, default: 0, description: 'percent of requests sent to the canary release' }),
  stableVersion: Type.String({ pattern: '^[A-Za-z0-9._-]+$', default: '1.0.0', description: 'image tag of the stable release' }),
  canaryVersion: Type.String({ pattern: '^[A-Za-z0-9._-]+$', default: '1.0.0', description: 'image tag of the canary release' }),
});

export const RedisConfigSchema = Type.Object({
  masters: Int({ minimum: 3, maximum: 16, default: 3, description: 'Redis Cluster masters (a cluster needs at least 3)' }),
  replicasPerMaster: Int({ minimum: 1, maximum: 3, default: 1, description: 'replicas per master' }),
  nodeTimeoutMs: Int({ minimum: 500, maximum: 60_000, default: 2000, description: 'cluster-node-timeout; failover takes about this plus 1.5 s' }),
  maxmemoryMb: Int({ minimum: 16, maximum: 65_536, default: 256, description: 'maxmemory per node in MiB' }),
  appendfsync: Type.Union([Type.Literal('always'), Type.Literal('everysec'), Type.Literal('no')], { default: 'everysec' }),
  image: Image('redis:7.0.15'),
});

export const MariaDbConfigSchema = Type.Object({
  database: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,63}$', default: 'numbering' }),
  appUser: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,31}$', default: 'numbering' }),
  maxConnections: Int({ minimum: 10, maximum: 10_000, default: 200, description: 'max_connections' }),
  threadCacheSize: Int({ minimum: 0, maximum: 16_384, default: 50, description: 'thread_cache_size' }),
  innodbBufferPoolSize: Size('256M', 'innodb_buffer_pool_size'),
  innodbLogFileSize: Size('512M', 'innodb_log_file_size'),
  innodbFlushLogAtTrxCommit: Int({ minimum: 0, maximum: 2, default: 1, description: 'innodb_flush_log_at_trx_commit (1 = durable)' }),
  innodbLockWaitTimeout: Int({ minimum: 1, maximum: 3600, default: 50, description: 'innodb_lock_wait_timeout seconds' }),
  longQueryTime: Type.Number({ minimum: 0, maximum: 3600, default: 1, description: 'slow log threshold seconds' }),
  expireLogsDays: Int({ minimum: 1, maximum: 99, default: 7, description: 'binlog retention days' }),
  maxBinlogSize: Size('100M', 'max_binlog_size'),
  binlogFormat: Type.Union([Type.Literal('ROW'), Type.Literal('MIXED'), Type.Literal('STATEMENT')], { default: 'ROW' }),
  poolSize: Int({ minimum: 1, maximum: 500, default: 20, description: 'connection pool size of each service instance' }),
  image: Image('mariadb:10.11.10'),
  exporterImage: Image('prom/mysqld-exporter:v0.15.1'),
});

// A five-field cron schedule (minute hour day-of-month month day-of-week): digits, "*", "/", "," and "-" only.
const Cron = (def: string, description: string) =>
  Type.String({ pattern: '^[0-9*/,-]+( [0-9*/,-]+){4}$', default: def, description: `${description}; five-field cron schedule in ops.timeZone` });

export const PostgresConfigSchema = Type.Object({
  scope: Type.String({ pattern: '^[a-z][a-z0-9-]{0,40}$', default: 'numbering-pg' }),
  members: Int({ minimum: 2, maximum: 9, default: 3, description: 'Patroni members' }),
  ttl: Int({ minimum: 5, maximum: 3600, default: 10, description: 'leader lock TTL seconds (failover takes about ttl + 0.5 s)' }),
  loopWait: Int({ minimum: 1, maximum: 600, default: 2, description: 'Patroni loop_wait seconds' }),
  retryTimeout: Int({ minimum: 1, maximum: 600, default: 4, description: 'Patroni retry_timeout seconds' }),
  synchronousMode: Type.Boolean({ default: true, description: 'synchronous_mode: an acknowledged commit survives a leader crash' }),
  failsafeMode: Type.Boolean({ default: true, description: 'keep the primary writable while the DCS is unreachable but all members are' }),
  maximumLagOnFailover: Int({ minimum: 0, maximum: 1 << 30, default: 1_048_576, description: 'bytes' }),
  maxConnections: Int({ minimum: 10, maximum: 10_000, default: 100, description: 'PostgreSQL max_connections' }),
  sharedBuffers: Type.String({ pattern: '^[0-9]+(kB|MB|GB)$', default: '128MB' }),
  database: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'numbering' }),
  appUser: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'app' }),
  pgbouncerPoolMode: Type.Union([Type.Literal('session'), Type.Literal('transaction')], { default: 'transaction' }),
  pgbouncerDefaultPoolSize: Int({ minimum: 1, maximum: 1000, default: 20, description: 'default_pool_size' }),
  pgbouncerMaxClientConn: Int({ minimum: 1, maximum: 100_000, default: 200, description: 'max_client_conn' }),
  image: Image('ghcr.io/zalando/spilo-16:3.3-p3'),
  etcdImage: Image('quay.io/coreos/etcd:v3.5.17'),
  haproxyImage: Image('haproxy:2.6.12'),
  pgbouncerImage: Image('bitnamilegacy/pgbouncer:1.23.1'),
  // Kubernetes only: pgBackRest (WAL archiving, backups) through a repository host over TLS.
  pgbackrestImage: Type.String({
    pattern: '^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$',
    default: 'numbering-patroni-pgbackrest:3.3-p3',
    description: 'container image, pinned by tag: postgres.image plus pgbackrest (infra/images/patroni-pgbackrest/Dockerfile); Patroni pods and the pgBackRest repository host (kubernetes)',
  }),
  kubectlImage: Image('registry.k8s.io/kubectl:v1.31.4'),
  pgbackrestFullSchedule: Cron('13 1 * * 0', 'pgbackrest full backup (kubernetes)'),
  pgbackrestDiffSchedule: Cron('13 1 * * 1-6', 'pgbackrest differential backup (kubernetes)'),
});

export const MonitoringConfigSchema = Type.Object({
  scrapeInterval: Type.String({ pattern: '^[0-9]+(ms|s|m)$', default: '15s' }),
  evaluationInterval: Type.String({ pattern: '^[0-9]+(ms|s|m)$', default: '15s' }),
  retention: Type.String({ pattern: '^[0-9]+(h|d|w)$', default: '15d' }),
  sequenceWarningRatio: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.9 }),
  sequenceCriticalRatio: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.95 }),
  lockWaitP95Seconds: Type.Number({ exclusiveMinimum: 0, default: 1 }),
  lockFailureRatio: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.1 }),
  errorRatio: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.05 }),
  canaryErrorDeviationPct: Type.Number({ minimum: 0, maximum: 1000, default: 50, description: 'canary error rate may exceed stable by this percent' }),
  canaryLatencyP95Ms: Type.Number({ exclusiveMinimum: 0, default: 500 }),
  emailTo: Type.String({ default: '', description: 'alert e-mail recipient; empty disables the e-mail receiver' }),
  emailFrom: Type.String({ default: 'alertmanager@numbering.local' }),
  smarthost: Type.String({ default: 'localhost:25' }),
  slackChannel: Type.String({ default: '#numbering-alerts' }),
  runbookBaseUrl: Type.String({ default: 'https://github.com/numbering/platform/blob/main/docs/runbooks' }),
  prometheusImage: Image('prom/prometheus:v2.53.3'),
  alertmanagerImage: Image('prom/alertmanager:v0.27.0'),
  grafanaImage: Image('grafana/grafana:11.3.1'),
  redisExporterImage: Image('oliver006/redis_exporter:v1.66.0'),
});

export const ServiceConfigSchema = Type.Object({
  image: Type.String({ pattern: '^[a-z0-9./_-]+$', default: 'numbering-service', description: 'image repository; the tag comes from canary.*Version' }),
  replicas: Int({ minimum: 1, maximum: 100, default: 2, description: 'replicas of each release (minimum of the HPA on kubernetes)' }),
  maxReplicas: Int({ minimum: 1, maximum: 200, default: 6, description: 'HPA ceiling of the stable release' }),
  reservationTtlSeconds: Int({ minimum: 10, maximum: 86_400, default: 300, description: 'seconds a reservation holds its number before it expires' }),
  lockTimeoutMs: Int({ minimum: 50, maximum: 60_000, default: 2000, description: 'how long a request waits for the counter lock before 503' }),
  logLevel: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace')], { default: 'info' }),
  nginxImage: Image('nginx:1.27.3'),
});

/** The ops CLI (packages/ops) as scheduled Kubernetes CronJobs in the prod stack (infra/src/kubernetes/ops.ts). */
export const OpsConfigSchema = Type.Object({
  image: Image('numbering-ops:0.1.0'),
  timeZone: Type.String({
    pattern: '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$',
    default: 'Etc/UTC',
    description: 'IANA time zone the ops CronJobs are scheduled in (CronJob timeZone); the service dates numbers in NUMBERING_TIME_ZONE, UTC',
  }),
  backupKeepDays: Int({ minimum: 1, maximum: 365, default: 7, description: 'days MariaDB and Redis backups are kept (ops backup --keep-days)' }),
  archiveAuditOlderThan: Type.String({ pattern: '^[0-9]+(d|w|y)$', default: '2y', description: 'audit_log rows older than this move to audit_log_archive (ops archive-audit --older-than)' }),
  mariadbBackupSchedule: Cron('17 2 * * *', 'ops backup mariadb'),
  redisBackupSchedule: Cron('32 2 * * *', 'ops backup redis'),
  integritySchedule: Cron('7 4 * * *', 'ops integrity'),
  cleanupReservationsSchedule: Cron('*/15 * * * *', 'ops cleanup-reservations'),
  archiveAuditSchedule: Cron('23 3 1 * *', 'ops archive-audit'),
});

export const LocalConfigSchema = Type.Object({
  portOffset: Int({ minimum: 0, maximum: 20_000, default: 0, description: 'added to every devstack port, so two stacks can share a machine' }),
  workdir: Type.String({ default: '.devstack', description: 'where the devstack keeps configs, data and logs' }),
});

export const PlatformConfigSchema = Type.Object({
  target: TargetSchema,
  namespace: Type.String({ pattern: '^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$', default: 'numbering', description: 'Kubernetes namespace / Docker name prefix' }),
  canary: CanaryConfigSchema,
  redis: RedisConfigSchema,
  mariadb: MariaDbConfigSchema,
  postgres: PostgresConfigSchema,
  monitoring: MonitoringConfigSchema,
  service: ServiceConfigSchema,
  ops: OpsConfigSchema,
  local: LocalConfigSchema,
});
export type PlatformConfig = Static<typeof PlatformConfigSchema>;

/** Every problem found in a stack config, each naming the key to fix. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly { key: string; message: string }[]) {
    super(`invalid platform config:\n${problems.map((p) => `  - ${p.key}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The keys a user may set, dotted (`canary.weight`), derived from the schema. */
export function configKeys(): string[] {
  const keys: string[] = [];
  const walk = (schema: TSchema, prefix: string) => {
    const props = (schema as { properties?: Record<string, TSchema> }).properties;
    if (props && (schema as { type?: string }).type === 'object') {
      for (const [k, v] of Object.entries(props)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else keys.push(prefix);
  };
  walk(PlatformConfigSchema, '');
  return keys;
}

type Raw = Record<string, unknown>;

/**
 * Accepts both flat dotted keys (`{"canary.weight": "30"}`, what `pulumi config set canary.weight 30`
 * stores) and nested objects (`{canary: {weight: 30}}`, what `--path` or YAML objects store).
 * Strings are converted to numbers and booleans where the schema wants them.
 */
export function parsePlatformConfig(input: Raw): PlatformConfig {
  const problems: { key: string; message: string }[] = [];
  const known = new Set(configKeys());
  const nested: Raw = {};
  for (const [rawKey, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const key = rawKey.replace(/^numbering:/, '');
    setPath(nested, key.split('.'), value, key, known, problems);
  }
  // Unknown keys are left out of `nested`, so the value checks below still run: one error lists both kinds.
  // Value.Default fills leaves only inside objects that exist.
  for (const [k, schema] of Object.entries(PlatformConfigSchema.properties)) {
    if ((schema as { type?: string }).type === 'object') nested[k] ??= {};
  }

  const converted = Value.Convert(PlatformConfigSchema, Value.Default(PlatformConfigSchema, nested)) as unknown;
  for (const error of Value.Errors(PlatformConfigSchema, converted)) {
    const key = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    const got = valueAt(converted, error.instancePath);
    const description = schemaAt(error.instancePath)?.description;
    problems.push({ key, message: `${error.message} (got ${JSON.stringify(got)})${description ? `; ${description}` : ''}` });
  }
  if (problems.length) throw new ConfigError(problems);
  const config = converted as PlatformConfig;
  problems.push(...crossChecks(config));
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** The defaults for a target: what an empty stack gets. */
export function defaultPlatformConfig(target: Target = 'local', overrides: Raw = {}): PlatformConfig {
  return parsePlatformConfig({ target, ...overrides });
}

function setPath(root: Raw, path: string[], value: unknown, key: string, known: Set<string>, problems: { key: string; message: string }[]) {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject) {
    for (const [k, v] of Object.entries(value as Raw)) setPath(root, [...path, k], v, `${key}.${k}`, known, problems);
    return;
  }
  const dotted = path.join('.');
  if (!known.has(dotted)) {
    const near = [...known].filter((k) => k.endsWith(`.${path.at(-1)}`) || k.startsWith(`${path[0]}.`)).slice(0, 4);
    problems.push({ key, message: `unknown config key${near.length ? ` (known keys nearby: ${near.join(', ')})` : ''}` });
    return;
  }
  let node = root;
  for (const segment of path.slice(0, -1)) {
    node[segment] ??= {};
    node = node[segment] as Raw;
  }
  node[path.at(-1)!] = value;
}

function schemaAt(pointer: string): { description?: string } | undefined {
  let node: TSchema | undefined = PlatformConfigSchema;
  for (const segment of pointer.split('/').filter(Boolean)) {
    node = (node as { properties?: Record<string, TSchema> } | undefined)?.properties?.[segment];
  }
  return node as { description?: string } | undefined;
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const segment of pointer.split('/').filter(Boolean)) node = (node as Raw | undefined)?.[segment];
  return node;
}

/** Rules that span keys; each message says why, so the user knows which way to move. */
export function crossChecks(config: PlatformConfig): { key: string; message: string }[] {
  const problems: { key: string; message: string }[] = [];
  const pg = config.postgres;
  if (pg.loopWait + 2 * pg.retryTimeout > pg.ttl) {
    problems.push({
      key: 'postgres.ttl',
      message: `Patroni needs loop_wait + 2*retry_timeout <= ttl, got ${pg.loopWait} + 2*${pg.retryTimeout} = ${pg.loopWait + 2 * pg.retryTimeout} > ${pg.ttl}; raise postgres.ttl or lower postgres.retryTimeout/postgres.loopWait`,
    });
  }
  if (pg.synchronousMode && pg.members < 2) {
    problems.push({ key: 'postgres.members', message: 'synchronous_mode needs at least one replica' });
  }
  const mon = config.monitoring;
  if (mon.sequenceWarningRatio >= mon.sequenceCriticalRatio) {
    problems.push({ key: 'monitoring.sequenceWarningRatio', message: `must be below monitoring.sequenceCriticalRatio (${mon.sequenceCriticalRatio})` });
  }
  if (config.service.maxReplicas < config.service.replicas) {
    problems.push({ key: 'service.maxReplicas', message: `must be >= service.replicas (${config.service.replicas})` });
  }
  if (!isTimeZone(config.ops.timeZone)) {
    problems.push({ key: 'ops.timeZone', message: `unknown IANA time zone ${JSON.stringify(config.ops.timeZone)} (e.g. Etc/UTC, Europe/Berlin)` });
  }
  if (config.target === 'local' && config.local.portOffset + LOCAL_MAX_PORT > 65_535) {
    problems.push({ key: 'local.portOffset', message: 'devstack ports would exceed 65535' });
  }
  return problems;
}

/** Whether the runtime's time-zone database knows `tz` (Kubernetes reads the same IANA names). */
function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Names shared by the scrape config, the alert rules and the dashboards. The metric names are the
 * numbering service's contract (services/numbering exposes exactly these on GET /metrics); the job
 * names are what prometheus.yml calls each scrape, so rules and panels can select by `job`.
 */
export const JOB = {
  prometheus: 'prometheus',
  alertmanager: 'alertmanager',
  numbering: 'numbering',
  /** One redis-exporter scraping every cluster node through `/scrape?target=`. */
  redisCluster: 'redis-cluster',
  /** The redis-exporter's own process metrics. */
  redisExporter: 'redis-exporter',
  mysqld: 'mysqld',
  patroni: 'patroni',
  etcd: 'etcd',
} as const;

export const METRIC = {
  /** counter {type, outcome}: numbers handed out. */
  numbersGenerated: 'numbering_numbers_generated_total',
  /** gauge 0..1 {counter_key, template}: share of a counter's range already used. */
  sequenceUtilization: 'numbering_sequence_utilization',
  /** histogram (seconds): time a request waited for the counter lock. */
  lockWait: 'numbering_lock_wait_seconds',
  /** counter {reason}: requests that did not get the counter lock. */
  lockFailures: 'numbering_lock_failures_total',
  /** gauge 0/1: the service runs without Redis (DB-only locking). */
  fallbackMode: 'numbering_fallback_mode',
  /** gauge {state}: connections of the MariaDB pool. */
  dbPoolConnections: 'numbering_db_pool_connections',
  /** histogram (seconds) {method, route, status_code, release}: every HTTP request. */
  httpDuration: 'http_request_duration_seconds',
  /** redis-exporter: 1 when the node answered the scrape. */
  redisUp: 'redis_up',
  patroniPrimary: 'patroni_primary',
  patroniTimeline: 'patroni_postgres_timeline',
} as const;

/** The label the service scrape (and the service's own HTTP metric) carries: `stable` | `canary`. */
export const RELEASE_LABEL = 'release';

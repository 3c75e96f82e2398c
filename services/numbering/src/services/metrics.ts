import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the service exports. Names and labels are a contract with the alert rules and the
 * dashboards (packages/blueprint render/prometheus.ts, render/grafana.ts): change them only together.
 *
 * - numbering_numbers_generated_total{type,outcome}: type = template name (document type);
 *   outcome = confirmed | reserved | replacement | replayed | exhausted | lock_timeout | error
 * - numbering_lock_failures_total{reason}: redis_timeout | redis_unavailable | db_timeout | deadlock | db_unavailable
 * - numbering_db_pool_connections{state}: total | idle | in_use | waiting
 */
export type GeneratedOutcome = 'confirmed' | 'reserved' | 'replacement' | 'replayed' | 'exhausted' | 'lock_timeout' | 'error';
export type LockFailureReason = 'redis_timeout' | 'redis_unavailable' | 'db_timeout' | 'deadlock' | 'db_unavailable';

export interface PoolGaugeSource {
  (): { total: number; idle: number; inUse: number; waiting: number };
}

export function createMetrics(release: string) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const numbersGenerated = new Counter({
    name: 'numbering_numbers_generated_total',
    help: 'Allocation results by document type (template) and outcome',
    labelNames: ['type', 'outcome'] as const,
    registers,
  });
  const sequenceUtilization = new Gauge({
    name: 'numbering_sequence_utilization',
    help: 'Share of a counter series used: current_value / max_value (0..1)',
    labelNames: ['counter_key', 'template'] as const,
    registers,
  });
  const lockWait = new Histogram({
    name: 'numbering_lock_wait_seconds',
    help: 'Time an allocation batch waited until it held its counter (Redis lock plus row lock)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const lockFailures = new Counter({
    name: 'numbering_lock_failures_total',
    help: 'Counter lock failures by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  // Gauges read at scrape time from whatever the app plugs in (pool, lock manager).
  let fallbackSource: () => boolean = () => false;
  let poolSource: PoolGaugeSource = () => ({ total: 0, idle: 0, inUse: 0, waiting: 0 });
  const fallbackMode = new Gauge({
    name: 'numbering_fallback_mode',
    help: '1 while Redis is unavailable and only the database row lock serialises allocations',
    registers,
    collect() {
      this.set(fallbackSource() ? 1 : 0);
    },
  });
  const dbPool = new Gauge({
    name: 'numbering_db_pool_connections',
    help: 'MariaDB connection pool by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const s = poolSource();
      this.set({ state: 'total' }, s.total);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'in_use' }, s.inUse);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route, status code and release',
    labelNames: ['method', 'route', 'status_code', 'release'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const batchSize = new Histogram({
    name: 'numbering_allocation_batch_size',
    help: 'Allocations per counter transaction (coalescing)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers,
  });
  // Every reason exists from the start, so rate() and alerts see zeros rather than nothing.
  for (const reason of ['redis_timeout', 'redis_unavailable', 'db_timeout', 'deadlock', 'db_unavailable'] as const) lockFailures.inc({ reason }, 0);

  return {
    registry,
    release,
    numbersGenerated,
    sequenceUtilization,
    lockWait,
    lockFailures,
    fallbackMode,
    dbPool,
    httpDuration,
    batchSize,
    watchPool(source: PoolGaugeSource) {
      poolSource = source;
    },
    watchFallback(source: () => boolean) {
      fallbackSource = source;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

import type { Pool, Rows } from '../db/pool.js';

/**
 * Checks behind the /health endpoints. Each is bounded in time so a hung dependency reports
 * "down" instead of hanging the probe.
 */

export interface DatabaseHealth {
  ok: boolean;
  detail: string;
  latencyMs?: number;
  schemaVersion?: number;
}

export interface IntegrityProblem {
  counterKey: string;
  epoch: number;
  currentValue: number;
  ledgerRows: number;
  maxSequence: number;
}

export interface IntegrityHealth {
  ok: boolean;
  checkedCounters: number;
  problems: IntegrityProblem[];
  checkedAt: string;
}

const withTimeout = <T>(work: Promise<T>, ms: number, what: string) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    work.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

export class HealthChecks {
  private integrityCache: { at: number; value: IntegrityHealth } | undefined;

  constructor(
    private readonly pool: Pool,
    readonly expectedSchemaVersion: number,
    private readonly timeoutMs = 1500,
  ) {}

  async database(): Promise<DatabaseHealth> {
    const started = performance.now();
    try {
      const [rows] = await withTimeout(this.pool.query<Rows>('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations'), this.timeoutMs, 'MariaDB');
      const schemaVersion = Number(rows[0]?.v ?? 0);
      const latencyMs = performance.now() - started;
      if (schemaVersion < this.expectedSchemaVersion) {
        return { ok: false, detail: `schema is at migration ${schemaVersion}, this build needs ${this.expectedSchemaVersion}: run the migrations`, latencyMs, schemaVersion };
      }
      return { ok: true, detail: 'reachable', latencyMs, schemaVersion };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  /**
   * For the most recently used counters: the ledger holds exactly sequences 1..current_value of the
   * current epoch (row count and highest sequence both equal current_value; uniqueness is a key).
   * One statement, so one consistent snapshot even while allocations commit. Cached briefly.
   */
  async integrity(maxAgeMs = 5000, counters = 20): Promise<IntegrityHealth> {
    if (this.integrityCache && Date.now() - this.integrityCache.at < maxAgeMs) return this.integrityCache.value;
    const [rows] = await withTimeout(
      this.pool.query<Rows>(
        `SELECT c.counter_key, c.epoch, c.current_value,
                (SELECT COUNT(*) FROM numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch) AS ledger_rows,
                (SELECT COALESCE(MAX(n.sequence), 0) FROM numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch) AS max_sequence
         FROM (SELECT counter_key, epoch, current_value FROM counters ORDER BY updated_at DESC LIMIT ?) c`,
        [counters],
      ),
      this.timeoutMs * 2,
      'MariaDB',
    );
    const problems = rows
      .map((r) => ({ counterKey: String(r.counter_key), epoch: Number(r.epoch), currentValue: Number(r.current_value), ledgerRows: Number(r.ledger_rows), maxSequence: Number(r.max_sequence) }))
      .filter((r) => r.ledgerRows !== r.currentValue || r.maxSequence !== r.currentValue);
    const value = { ok: problems.length === 0, checkedCounters: rows.length, problems, checkedAt: new Date().toISOString() };
    this.integrityCache = { at: Date.now(), value };
    return value;
  }
}

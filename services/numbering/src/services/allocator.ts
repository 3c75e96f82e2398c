import { utilization } from '../domain/allocation.js';
import { Coalescer } from '../domain/coalescer.js';
import { ServiceError, unavailable } from '../domain/errors.js';
import { allocateBatch, TemplateChangedError, type Allocated, type BatchEntry, type TemplateRef } from '../db/ledger.js';
import { duplicateKeyName, ER, inTransaction, isConnectionError, sqlErrno, type Pool } from '../db/pool.js';
import type { GeneratedOutcome, Metrics } from './metrics.js';
import { YIELD_MS, type RedisLocks } from './redis-locks.js';

/**
 * Allocation path: requests for one counter are coalesced (Coalescer), each batch takes the Redis
 * fast-path lock if Redis is healthy, then runs one MariaDB transaction (allocateBatch) that holds
 * the counter row lock. Clients are answered only after COMMIT.
 */

export interface AllocationRequest extends BatchEntry {
  template: TemplateRef;
  counterKey: string;
}

interface Queued {
  req: AllocationRequest;
  resolve: (value: Allocated) => void;
  reject: (error: unknown) => void;
}

export interface AllocatorOptions {
  pool: Pool;
  locks: RedisLocks;
  metrics: Metrics;
  coalesce: boolean;
  maxBatch: number;
  lockTimeoutMs: number;
  actor: string;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
}

const MAX_ATTEMPTS = 4;

export class Allocator {
  private readonly coalescer: Coalescer<Queued>;
  /** Requests with an Idempotency-Key still in flight on this instance: a second one waits for the first. */
  private readonly inFlightKeys = new Map<string, { hash: string | undefined; result: Promise<Allocated> }>();
  /** Counters this instance should not re-lock before the given time (fair turns between instances). */
  private readonly yieldUntil = new Map<string, number>();

  constructor(private readonly opts: AllocatorOptions) {
    this.coalescer = new Coalescer<Queued>({
      enabled: opts.coalesce,
      maxBatch: opts.maxBatch,
      run: (key, batch) => this.runBatch(key, batch),
      fail: (batch, error) => {
        opts.log.error({ err: error }, 'allocation batch failed unexpectedly');
        for (const q of batch) q.reject(error);
      },
    });
  }

  allocate(req: AllocationRequest): Promise<Allocated> {
    const key = req.idempotencyKey;
    if (key) {
      const earlier = this.inFlightKeys.get(key);
      if (earlier) {
        if (earlier.hash !== req.requestHash) {
          return Promise.reject(new ServiceError(409, 'IDEMPOTENCY_CONFLICT', `Idempotency-Key ${key} is in use by a request with a different body`));
        }
        return earlier.result.then((value) => ({ ...value, replayed: true }));
      }
    }
    const result = new Promise<Allocated>((resolve, reject) => this.coalescer.submit(req.counterKey, { req, resolve, reject }));
    if (key) {
      this.inFlightKeys.set(key, { hash: req.requestHash, result });
      const forget = () => this.inFlightKeys.delete(key);
      result.then(forget, forget);
    }
    return result;
  }

  /** Waits for running and queued batches (graceful shutdown). */
  idle(): Promise<void> {
    return this.coalescer.idle();
  }

  private async runBatch(counterKey: string, queued: Queued[]): Promise<void> {
    // One transaction serves one template version; stragglers retry with the fresh template.
    const template = queued[0]!.req.template;
    const batch = queued.filter((q) => {
      if (q.req.template.version === template.version) return true;
      q.reject(new TemplateChangedError(template.name));
      return false;
    });
    const started = performance.now();
    // Another instance waited while we held this counter last time: let it have a turn first.
    const yieldUntil = this.yieldUntil.get(counterKey);
    if (yieldUntil !== undefined) {
      this.yieldUntil.delete(counterKey);
      const pause = yieldUntil - performance.now();
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
    const lock = await this.opts.locks.acquire(counterKey, Date.now() + this.opts.lockTimeoutMs);
    if (lock.outcome === 'timeout') {
      this.failAll(batch, 'lock_timeout', unavailable('LOCK_TIMEOUT', `counter ${counterKey} is busy: lock not acquired within ${this.opts.lockTimeoutMs} ms; retry`));
      return;
    }
    const redisWaitMs = performance.now() - started;
    try {
      await this.runTransaction(counterKey, template, batch, redisWaitMs);
    } finally {
      if (lock.outcome === 'acquired') {
        const { waiters } = await this.opts.locks.release(counterKey, lock.token);
        // Only a coalescing instance re-takes a counter's lock at once; per-number callers are the waiters themselves.
        if (waiters && this.opts.coalesce) this.yieldUntil.set(counterKey, performance.now() + YIELD_MS);
      }
    }
  }

  private async runTransaction(counterKey: string, template: TemplateRef, batch: Queued[], redisWaitMs: number): Promise<void> {
    const { metrics } = this.opts;
    let checkCollisions = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await inTransaction(this.opts.pool, (conn) =>
          allocateBatch(conn, { counterKey, template, entries: batch.map((q) => q.req), actor: this.opts.actor, checkCollisions }),
        );
        metrics.lockWait.observe((redisWaitMs + result.rowLockWaitMs) / 1000);
        metrics.batchSize.observe(batch.length);
        metrics.sequenceUtilization.set({ counter_key: counterKey, template: template.name }, utilization(result.current, result.max));
        result.outcomes.forEach((outcome, i) => {
          const q = batch[i]!;
          if (outcome.ok) {
            this.count(template.name, outcome.value.replayed ? 'replayed' : q.req.kind === 'reserve' ? 'reserved' : q.req.kind === 'replace' ? 'replacement' : 'confirmed');
            q.resolve(outcome.value);
          } else {
            this.count(template.name, outcome.error.code === 'SEQUENCE_EXHAUSTED' ? 'exhausted' : 'error');
            q.reject(outcome.error);
          }
        });
        return;
      } catch (e) {
        const retry = attempt < MAX_ATTEMPTS;
        const dupKey = duplicateKeyName(e);
        if (dupKey === 'uq_numbers_number' && retry) {
          // A number with this text exists (counter reset, or two templates printing alike): plan around it.
          checkCollisions = true;
          continue;
        }
        if (dupKey === 'uq_numbers_idempotency' && retry) continue; // another instance committed the key first; the retry replays it
        if (dupKey === 'uq_numbers_sequence' || dupKey === 'PRIMARY') {
          // Cannot happen while the row lock holds; refuse loudly rather than guess.
          this.opts.log.error({ err: e, counterKey }, 'ledger already has a sequence the counter had not reached');
        }
        const errno = sqlErrno(e);
        if (errno === ER.LOCK_DEADLOCK) {
          metrics.lockFailures.inc({ reason: 'deadlock' });
          if (retry) continue;
        }
        if (e instanceof TemplateChangedError) {
          for (const q of batch) q.reject(e);
          return;
        }
        if (errno === ER.LOCK_WAIT_TIMEOUT) {
          metrics.lockFailures.inc({ reason: 'db_timeout' });
          this.failAll(batch, 'lock_timeout', unavailable('LOCK_TIMEOUT', `counter ${counterKey} is busy: row lock not acquired in time; retry`));
          return;
        }
        if (isConnectionError(e)) {
          metrics.lockFailures.inc({ reason: 'db_unavailable' });
          this.opts.log.warn({ err: e, counterKey }, 'database unavailable during allocation');
          this.failAll(batch, 'error', unavailable('DB_UNAVAILABLE', 'the database is unavailable; retry', 2));
          return;
        }
        this.opts.log.error({ err: e, counterKey, attempt }, 'allocation transaction failed');
        this.failAll(batch, 'error', new ServiceError(500, 'INTERNAL', 'allocation failed'));
        return;
      }
    }
  }

  private failAll(batch: Queued[], outcome: GeneratedOutcome, error: ServiceError): void {
    for (const q of batch) {
      this.count(q.req.template.name, outcome);
      q.reject(error);
    }
  }

  private count(type: string, outcome: GeneratedOutcome): void {
    this.opts.metrics.numbersGenerated.inc({ type, outcome });
  }
}

import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { ServiceEnv } from '../config.js';
import { redisSeedNodes } from '../config.js';

/**
 * The Redis Cluster fast path: a per-counter lock (`SET key token NX PX`, released by a Lua
 * compare-and-delete) that keeps instances from queueing on the same database row. It is only an
 * optimisation: a lock can be lost on failover (asynchronous replication) and the counter row lock
 * in MariaDB still serialises allocations. When Redis fails, the service switches to DB-only
 * fallback mode and a probe switches it back once every master answers again.
 */

export type RedisMode = 'redis' | 'fallback';

export type AcquireResult = { outcome: 'acquired'; token: string } | { outcome: 'timeout' } | { outcome: 'unavailable'; reason: string };

/** Deletes the lock only if it still holds our token; 2 = released and someone waits, 1 = released, 0 = not ours. */
const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  return 1 + redis.call('exists', KEYS[2])
end
return 0`;

/** Lock and waiters mark share the hash tag, so they live in one slot (one script may touch both). */
export const lockKey = (counterKey: string) => `numbering:lock:{${counterKey}}`;
export const waitersKey = (counterKey: string) => `numbering:waiters:{${counterKey}}`;
/** A waiter refreshes its mark on every poll; it disappears soon after the last one gave up. */
const WAITERS_MARK_MS = 20;
/** How long a holder with waiters pauses before taking the lock again: longer than a waiter's poll. */
export const YIELD_MS = 2.5;

export function createCluster(env: ServiceEnv): Cluster {
  const cluster = new Cluster(redisSeedNodes(env), {
    redisOptions: {
      username: env.REDIS_USER,
      password: env.REDIS_PASSWORD,
      connectTimeout: 2000,
      commandTimeout: env.REDIS_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
    },
    // Fail fast instead of queueing while the cluster is down: the DB path takes over.
    enableOfflineQueue: false,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    maxRedirections: 8,
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: 1000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
  });
  // Errors are handled where commands fail; without a listener ioredis would print each one.
  cluster.on('error', () => {});
  cluster.on('node error', () => {});
  return cluster;
}

export interface RedisLocksOptions {
  commandTimeoutMs: number;
  lockTtlMs: number;
  probeIntervalMs: number;
  /** Consecutive good probes before leaving fallback mode (avoids flapping during a failover). */
  probesToRecover?: number;
  onModeChange?: (mode: RedisMode, reason: string) => void;
  onFailure?: (reason: 'redis_timeout' | 'redis_unavailable') => void;
}

export class RedisLocks {
  private currentMode: RedisMode = 'fallback';
  private lastReason = 'not connected yet';
  private goodProbes = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private everHealthy = false;
  /** Callers of acquire() per counter on this instance. */
  private readonly localWaiters = new Map<string, number>();
  lastProbeMs: number | undefined;

  constructor(
    readonly cluster: Cluster,
    private readonly opts: RedisLocksOptions,
  ) {}

  get mode(): RedisMode {
    return this.currentMode;
  }

  get reason(): string {
    return this.lastReason;
  }

  start(): void {
    // Probe as soon as the client connects rather than at the next tick: leave start-up fallback quickly.
    this.cluster.on('ready', () => void this.probe());
    const tick = async () => {
      if (this.closed) return;
      await this.probe();
      if (!this.closed) this.probeTimer = setTimeout(tick, this.opts.probeIntervalMs).unref();
    };
    void tick();
  }

  /**
   * Tries to take the counter's lock until `deadline` (epoch ms). Never throws. While it waits it
   * keeps a short-lived "waiters" mark next to the lock, which tells the holder to let go for a
   * moment after its batch (see `release`): without it an instance with a steady queue would
   * re-take the lock right after releasing it and starve the others.
   */
  async acquire(counterKey: string, deadline: number): Promise<AcquireResult> {
    if (this.currentMode === 'fallback') return { outcome: 'unavailable', reason: this.lastReason };
    const key = lockKey(counterKey);
    const token = randomUUID();
    const started = performance.now();
    this.localWaiters.set(counterKey, (this.localWaiters.get(counterKey) ?? 0) + 1);
    try {
      return await this.pollLock(counterKey, key, token, deadline, started);
    } finally {
      const n = this.localWaiters.get(counterKey)! - 1;
      if (n === 0) this.localWaiters.delete(counterKey);
      else this.localWaiters.set(counterKey, n);
    }
  }

  private async pollLock(counterKey: string, key: string, token: string, deadline: number, started: number): Promise<AcquireResult> {
    let pause = 1;
    for (;;) {
      try {
        const reply = await this.withTimeout(this.cluster.set(key, token, 'PX', this.opts.lockTtlMs, 'NX'));
        if (reply === 'OK') return { outcome: 'acquired', token };
      } catch (e) {
        const reason = `lock command failed: ${(e as Error).message}`;
        this.opts.onFailure?.('redis_unavailable');
        this.enterFallback(reason);
        return { outcome: 'unavailable', reason };
      }
      this.cluster.set(waitersKey(counterKey), '1', 'PX', WAITERS_MARK_MS).catch(() => {});
      const left = deadline - Date.now();
      if (left <= 0) {
        this.opts.onFailure?.('redis_timeout');
        return { outcome: 'timeout' };
      }
      // A batch holds the lock for milliseconds: a lone waiter (the coalescing case: one per counter
      // and instance) polls about every millisecond, so one poll lands in the YIELD_MS window of a
      // holder that saw it waiting. Many local waiters (one transaction per number) or a long wait back off.
      await sleep(Math.min(left, pause * (0.5 + Math.random())));
      if ((this.localWaiters.get(counterKey) ?? 0) > 1 || performance.now() - started > 50) pause = Math.min(pause * 2, 16);
    }
  }

  /**
   * Compare-and-delete: never removes a lock that expired and was taken by someone else.
   * Returns true when another instance is waiting for this counter (the caller should yield).
   */
  async release(counterKey: string, token: string): Promise<{ waiters: boolean }> {
    try {
      const reply = await this.withTimeout(this.cluster.eval(RELEASE_LUA, 2, lockKey(counterKey), waitersKey(counterKey), token));
      return { waiters: reply === 2 };
    } catch {
      // The lock expires by itself (PX); correctness never depended on it.
      return { waiters: false };
    }
  }

  /** Checks every master with PING and one write; used by the probe loop and /health/redis. */
  async check(): Promise<{ ok: boolean; detail: string; latencyMs?: number }> {
    const started = performance.now();
    try {
      if (this.cluster.status !== 'ready') return { ok: false, detail: `cluster client is ${this.cluster.status}` };
      const masters = this.cluster.nodes('master');
      if (masters.length === 0) return { ok: false, detail: 'no master known' };
      await this.withTimeout(Promise.all(masters.map((m) => m.ping())));
      await this.withTimeout(this.cluster.set('numbering:probe', String(Date.now()), 'PX', 10_000));
      const latencyMs = performance.now() - started;
      return { ok: true, detail: `${masters.length} masters answer`, latencyMs };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const result = await this.check();
      this.lastProbeMs = result.latencyMs;
      if (!result.ok) {
        this.goodProbes = 0;
        this.enterFallback(result.detail);
        return;
      }
      // At start-up one good probe is enough; after a failure wait for a stable cluster.
      const needed = this.everHealthy ? (this.opts.probesToRecover ?? 2) : 1;
      if (this.currentMode === 'fallback' && ++this.goodProbes >= needed) {
        this.everHealthy = true;
        this.currentMode = 'redis';
        this.lastReason = 'redis healthy';
        this.opts.onModeChange?.('redis', result.detail);
      }
    } finally {
      this.probing = false;
    }
  }

  private enterFallback(reason: string): void {
    this.lastReason = reason;
    this.goodProbes = 0;
    if (this.currentMode === 'fallback') return;
    this.currentMode = 'fallback';
    this.opts.onModeChange?.('fallback', reason);
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis command timed out after ${this.opts.commandTimeoutMs} ms`)), this.opts.commandTimeoutMs);
      work.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    try {
      await this.withTimeout(this.cluster.quit());
    } catch {
      this.cluster.disconnect();
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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

const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export const lockKey = (counterKey: string) => `numbering:lock:{${counterKey}}`;

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

  /** Tries to take the counter's lock until `deadline` (epoch ms). Never throws. */
  async acquire(counterKey: string, deadline: number): Promise<AcquireResult> {
    if (this.currentMode === 'fallback') return { outcome: 'unavailable', reason: this.lastReason };
    const key = lockKey(counterKey);
    const token = randomUUID();
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
      const left = deadline - Date.now();
      if (left <= 0) {
        this.opts.onFailure?.('redis_timeout');
        return { outcome: 'timeout' };
      }
      // Short, jittered waits: a batch holds the lock for a few milliseconds.
      await sleep(Math.min(left, pause * (0.5 + Math.random())));
      pause = Math.min(pause * 2, 16);
    }
  }

  /** Compare-and-delete: never removes a lock that expired and was taken by someone else. */
  async release(counterKey: string, token: string): Promise<void> {
    try {
      await this.withTimeout(this.cluster.eval(RELEASE_LUA, 1, lockKey(counterKey), token));
    } catch {
      // The lock expires by itself (PX); correctness never depended on it.
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

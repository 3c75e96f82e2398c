/**
 * Coalesces concurrent work on one key into batches, like a database's group commit: while a batch
 * for a counter is in its transaction, new requests for that counter queue up and all of them go
 * into the next transaction. One batch per key runs at a time; different keys run in parallel.
 *
 * With `enabled: false` every entry runs on its own, concurrently: the one-transaction-per-number
 * design the benchmark compares against.
 */

export interface CoalescerOptions<E> {
  enabled: boolean;
  maxBatch: number;
  /** Runs one batch. It settles its entries itself; a throw settles them through `fail`. */
  run: (key: string, batch: E[]) => Promise<void>;
  fail: (batch: E[], error: unknown) => void;
}

export class Coalescer<E> {
  private readonly queues = new Map<string, E[]>();
  private readonly draining = new Set<string>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: CoalescerOptions<E>) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new Error('maxBatch must be a positive integer');
  }

  submit(key: string, entry: E): void {
    if (!this.opts.enabled) {
      void this.track(this.runBatch(key, [entry]));
      return;
    }
    const queue = this.queues.get(key);
    if (queue) queue.push(entry);
    else this.queues.set(key, [entry]);
    if (!this.draining.has(key)) {
      this.draining.add(key);
      // Start on the next turn of the event loop: requests parsed in the same I/O phase join the first batch.
      void this.track(new Promise<void>((resolve) => setImmediate(() => this.drain(key).then(resolve))));
    }
  }

  /** Entries waiting for a batch (not counting the ones in a running batch). */
  queued(key?: string): number {
    if (key !== undefined) return this.queues.get(key)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Resolves when no batch is running or queued (graceful shutdown). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(key: string): Promise<void> {
    try {
      for (;;) {
        const queue = this.queues.get(key);
        if (!queue || queue.length === 0) break;
        const batch = queue.splice(0, this.opts.maxBatch);
        await this.runBatch(key, batch);
      }
    } finally {
      this.queues.delete(key);
      this.draining.delete(key);
    }
  }

  private async runBatch(key: string, batch: E[]): Promise<void> {
    try {
      await this.opts.run(key, batch);
    } catch (error) {
      this.opts.fail(batch, error);
    }
  }

  private async track(work: Promise<void>): Promise<void> {
    this.inFlight++;
    try {
      await work;
    } finally {
      if (--this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        waiters.forEach((w) => w());
      }
    }
  }
}

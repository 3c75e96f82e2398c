import { describe, expect, it } from 'vitest';
import { Coalescer } from '../src/domain/coalescer.js';

interface Entry {
  id: number;
  resolve: (batchSize: number) => void;
  reject: (e: unknown) => void;
}

/** A coalescer whose "transaction" takes `ms` and records what ran when. */
function harness(opts: { enabled: boolean; maxBatch: number; ms?: number; failOn?: number }) {
  const batches: { key: string; ids: number[] }[] = [];
  let running = new Map<string, number>();
  let maxConcurrentPerKey = 0;
  let maxConcurrentKeys = 0;
  const c = new Coalescer<Entry>({
    ...opts,
    run: async (key, batch) => {
      running.set(key, (running.get(key) ?? 0) + 1);
      maxConcurrentPerKey = Math.max(maxConcurrentPerKey, running.get(key)!);
      maxConcurrentKeys = Math.max(maxConcurrentKeys, [...running.values()].filter((n) => n > 0).length);
      batches.push({ key, ids: batch.map((e) => e.id) });
      await new Promise((r) => setTimeout(r, opts.ms ?? 5));
      running.set(key, running.get(key)! - 1);
      if (batch.some((e) => e.id === opts.failOn)) throw new Error('transaction failed');
      batch.forEach((e) => e.resolve(batch.length));
    },
    fail: (batch, error) => batch.forEach((e) => e.reject(error)),
  });
  const submit = (key: string, id: number) => new Promise<number>((resolve, reject) => c.submit(key, { id, resolve, reject }));
  return { c, submit, batches, stats: () => ({ maxConcurrentPerKey, maxConcurrentKeys }), reset: () => (running = new Map()) };
}

describe('Coalescer', () => {
  it('puts concurrent requests for one key into few transactions, one at a time, in order', async () => {
    const h = harness({ enabled: true, maxBatch: 100 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => h.submit('k', i)));
    // All 50 arrive in the same tick: one batch.
    expect(h.batches).toEqual([{ key: 'k', ids: Array.from({ length: 50 }, (_, i) => i) }]);
    expect(results.every((n) => n === 50)).toBe(true);
    expect(h.stats().maxConcurrentPerKey).toBe(1);
  });

  it('queues requests that arrive during a transaction into the next one', async () => {
    const h = harness({ enabled: true, maxBatch: 100, ms: 20 });
    const first = h.submit('k', 1);
    await new Promise((r) => setTimeout(r, 5)); // batch 1 is now in its transaction
    const later = [h.submit('k', 2), h.submit('k', 3), h.submit('k', 4)];
    await Promise.all([first, ...later]);
    expect(h.batches.map((b) => b.ids)).toEqual([[1], [2, 3, 4]]);
    expect(h.stats().maxConcurrentPerKey).toBe(1);
  });

  it('respects maxBatch', async () => {
    const h = harness({ enabled: true, maxBatch: 8 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => h.submit('k', i)));
    expect(h.batches.map((b) => b.ids.length)).toEqual([8, 8, 4]);
    expect(h.batches.flatMap((b) => b.ids)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('runs different keys in parallel', async () => {
    const h = harness({ enabled: true, maxBatch: 100, ms: 20 });
    await Promise.all(['a', 'b', 'c'].flatMap((k) => [h.submit(k, 1), h.submit(k, 2)]));
    expect(h.batches).toHaveLength(3);
    expect(h.stats().maxConcurrentKeys).toBe(3);
  });

  it('fails every entry of a failed batch, and only those', async () => {
    const h = harness({ enabled: true, maxBatch: 2 });
    const results = await Promise.allSettled([1, 2, 3, 4].map((id) => h.submit('k', id))).then((r) => r.map((x) => x.status));
    expect(results).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const h2 = harness({ enabled: true, maxBatch: 2, failOn: 3 });
    const results2 = await Promise.allSettled([1, 2, 3, 4].map((id) => h2.submit('k', id))).then((r) => r.map((x) => x.status));
    expect(results2).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });

  it('without coalescing runs one transaction per request, concurrently', async () => {
    const h = harness({ enabled: false, maxBatch: 100, ms: 10 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => h.submit('k', i)));
    expect(h.batches).toHaveLength(10);
    expect(h.batches.every((b) => b.ids.length === 1)).toBe(true);
    expect(h.stats().maxConcurrentPerKey).toBeGreaterThan(1);
  });

  it('idle() waits for queued and running batches', async () => {
    const h = harness({ enabled: true, maxBatch: 1, ms: 10 });
    let done = 0;
    for (let i = 0; i < 3; i++) void h.submit('k', i).then(() => done++);
    await h.c.idle();
    expect(done).toBe(3);
    expect(h.c.queued()).toBe(0);
  });
});

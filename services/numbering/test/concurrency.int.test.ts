import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duplicateNumbers, runLoad, type Ack } from './support/load.js';
import { adminHeaders, ledgerCheck, ledgerNumbers, metricValue, request, sleep, startInfra, startService, type Infra, type ServiceInstance } from './support/stack.js';

/**
 * Correctness under concurrency and Redis faults: two service instances (stable + canary, real
 * processes) behind a random "load balancer", 200 concurrent clients, 5 counters, against a real
 * 6-node Redis Cluster and MariaDB. Duplicates are checked in the responses and in the ledger;
 * gaps are checked in the ledger (each counter holds exactly sequences 1..current_value).
 */

const TEMPLATE = 'LOADTEST';
const COUNTERS = ['ORG1', 'ORG2', 'ORG3', 'ORG4', 'ORG5'];
let infra: Infra;
let instances: ServiceInstance[] = [];
const urls = () => instances.map((i) => i.url);
const allAcks: Ack[] = [];
const body = (i: number) => ({ template: TEMPLATE, fields: { PROJECT: 'LCBP3', ORIGINATOR: COUNTERS[i % COUNTERS.length] } });

async function expectLedgerConsistent(expectedTotal: number) {
  const counters = await ledgerCheck(infra, TEMPLATE);
  expect(counters.map((c) => c.counterKey).sort()).toEqual(COUNTERS.map((o) => `${TEMPLATE}|-|PROJECT=LCBP3|ORIGINATOR=${o}`).sort());
  for (const c of counters) {
    // Sequences 1..current_value, each exactly once: no gap, no duplicate, nothing beyond the counter.
    expect(c, c.counterKey).toEqual({ ...c, epoch: 1, rows: c.current, distinct: c.current, min: c.current > 0 ? 1 : 0, max: c.current });
  }
  expect(counters.reduce((n, c) => n + c.current, 0)).toBe(expectedTotal);
  const ledger = await ledgerNumbers(infra, TEMPLATE);
  expect([...ledger.values()].filter((n) => n > 1)).toEqual([]);
  expect(ledger.size).toBe(expectedTotal);
  // Every acknowledged number is in the ledger as CONFIRMED.
  expect(allAcks.filter((a) => !ledger.has(a.number)).map((a) => a.number)).toEqual([]);
}

async function health(url: string) {
  return (await request<{ fallback_mode: boolean; status: string; redis: { mode: string } }>(url, 'GET', '/health/numbering')).body;
}

async function waitForMode(fallback: boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const modes = await Promise.all(urls().map(async (u) => (await health(u)).fallback_mode));
    if (modes.every((m) => m === fallback)) return;
    if (Date.now() > deadline) throw new Error(`instances did not reach fallback_mode=${fallback} within ${timeoutMs} ms: ${modes.join(',')}`);
    await sleep(200);
  }
}

/** Redis lock failures (timeouts and unavailability) summed over the instances. */
async function redisFailures(): Promise<number> {
  let n = 0;
  for (const url of urls()) {
    const text = String((await request(url, 'GET', '/metrics')).body);
    n += (metricValue(text, 'numbering_lock_failures_total', { reason: 'redis_unavailable' }) ?? 0) + (metricValue(text, 'numbering_lock_failures_total', { reason: 'redis_timeout' }) ?? 0);
  }
  return n;
}

beforeAll(async () => {
  infra = await startInfra();
  instances = await Promise.all([startService(infra, 0), startService(infra, 1)]);
  await waitForMode(false, 30_000);
  const created = await request(instances[0]!.url, 'POST', '/v1/admin/templates', { name: TEMPLATE, pattern: '{PROJECT}-LOAD-{ORIGINATOR}-{SEQ:7}', resetScope: 'NONE', reason: 'concurrency test' }, adminHeaders(infra));
  expect(created.status).toBe(201);
});

afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  await infra?.stop();
});

describe('2 instances x 200 concurrent clients', () => {
  it('20,000 allocations over 5 counters: zero duplicates, zero unaccounted gaps', async () => {
    const result = await runLoad({ urls: urls(), clients: 200, total: 20_000, body, deadlineMs: 240_000 });
    allAcks.push(...result.acks);
    console.log(`20,000 allocations in ${(result.elapsedMs / 1000).toFixed(1)} s (${Math.round(20_000 / (result.elapsedMs / 1000))}/s); retried: ${JSON.stringify([...result.failures])}`);
    expect(result.abandoned).toBe(0);
    expect(result.acks).toHaveLength(20_000);
    expect(duplicateNumbers(result.acks)).toEqual([]);
    // Both instances served, and both coalesced.
    for (const url of urls()) {
      const metrics = String((await request(url, 'GET', '/metrics')).body);
      const batches = metricValue(metrics, 'numbering_allocation_batch_size_count')!;
      const allocations = metricValue(metrics, 'numbering_allocation_batch_size_sum')!;
      console.log(`${url}: ${allocations} allocations in ${batches} transactions (${(allocations / batches).toFixed(1)} per transaction)`);
      expect(allocations).toBeGreaterThan(1000);
      expect(allocations / batches).toBeGreaterThan(1.5);
    }
    await expectLedgerConsistent(20_000);
  });

  it('one Idempotency-Key sent 40 times at once to both instances yields one number', async () => {
    const headers = { 'idempotency-key': 'same-key-everywhere' };
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => request<{ number: string }>(urls()[i % 2]!, 'POST', '/v1/numbers', body(0), headers)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    expect(new Set(results.map((r) => r.body.number)).size).toBe(1);
    const rows = await infra.mariadb.sql(`SELECT COUNT(*) FROM ${infra.testbed.model.mariadb.config.database}.numbers WHERE idempotency_key = 'same-key-everywhere'`);
    expect(rows.trim()).toBe('1');
    allAcks.push({ ...results[0]!.body, sequence: 0, counterKey: '', key: headers['idempotency-key'], instance: '', replayed: false, at: Date.now() });
  });

  it('a Redis master killed mid-run: zero duplicates, nothing lost', async () => {
    const masters = await infra.redis.masters();
    const victim = masters[0]!;
    const failuresBefore = await redisFailures();
    const load = runLoad({ urls: urls(), clients: 100, total: 15_000, body, deadlineMs: 120_000 });
    await sleep(1000);
    const killedAt = Date.now();
    await infra.redis.kill(victim, 'SIGKILL');
    const result = await load;
    allAcks.push(...result.acks);
    const afterKill = result.acks.filter((a) => a.at > killedAt).length;
    const failures = (await redisFailures()) - failuresBefore;
    console.log(
      `killed ${victim} mid-run: ${result.acks.length} acknowledged in ${(result.elapsedMs / 1000).toFixed(1)} s, ${afterKill} after the kill; ${failures} Redis lock failures (-> DB-only); retried: ${JSON.stringify([...result.failures])}`,
    );
    // The kill really happened mid-run, and the service noticed it.
    expect(afterKill).toBeGreaterThan(1000);
    expect(failures).toBeGreaterThan(0);
    expect(result.abandoned).toBe(0);
    expect(result.acks).toHaveLength(15_000);
    expect(duplicateNumbers(allAcks)).toEqual([]);
    await expectLedgerConsistent(35_001);
    await infra.redis.start(victim);
    await infra.redis.waitHealthy(60_000);
  });

  it('all Redis nodes stopped: fallback mode keeps allocating, and Redis mode returns with Redis', async () => {
    await Promise.all(infra.redis.nodes.map((n) => infra.redis.kill(n.name, 'SIGTERM')));
    await waitForMode(true, 15_000);
    const metrics = String((await request(instances[0]!.url, 'GET', '/metrics')).body);
    expect(metricValue(metrics, 'numbering_fallback_mode')).toBe(1);
    const h = await health(instances[1]!.url);
    expect(h).toMatchObject({ status: 'ok', fallback_mode: true, redis: { mode: 'fallback' } });

    const result = await runLoad({ urls: urls(), clients: 100, total: 3000, body, deadlineMs: 120_000 });
    allAcks.push(...result.acks);
    console.log(`Redis down: ${result.acks.length} acknowledged in ${(result.elapsedMs / 1000).toFixed(1)} s; retried: ${JSON.stringify([...result.failures])}`);
    expect(result.abandoned).toBe(0);
    expect(result.acks).toHaveLength(3000);
    expect(duplicateNumbers(allAcks)).toEqual([]);
    await expectLedgerConsistent(38_001);

    await Promise.all(infra.redis.nodes.map((n) => infra.redis.start(n.name)));
    await infra.redis.waitHealthy(60_000);
    await waitForMode(false, 30_000);
    const after = String((await request(instances[1]!.url, 'GET', '/metrics')).body);
    expect(metricValue(after, 'numbering_fallback_mode')).toBe(0);
    const tail = await runLoad({ urls: urls(), clients: 50, total: 1000, body, deadlineMs: 60_000 });
    allAcks.push(...tail.acks);
    expect(tail.acks).toHaveLength(1000);
    expect(duplicateNumbers(allAcks)).toEqual([]);
    await expectLedgerConsistent(39_001);
  });
});

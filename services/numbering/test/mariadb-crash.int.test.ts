import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duplicateNumbers, runLoad } from './support/load.js';
import { adminHeaders, ledgerCheck, ledgerNumbers, request, sleep, startInfra, startService, type Infra, type ServiceInstance } from './support/stack.js';

/**
 * Durability: MariaDB is killed with SIGKILL in the middle of a run and restarted. Clients retry
 * failed requests with the same Idempotency-Key (as the API asks them to). Afterwards every number
 * acknowledged with a 2xx is in the ledger, no number was acknowledged for two requests, and the
 * ledger still has no gap: the counter row and its ledger rows commit in one transaction.
 */

const TEMPLATE = 'CRASHTEST';
const COUNTERS = ['C1', 'C2', 'C3', 'C4', 'C5'];
let infra: Infra;
let instances: ServiceInstance[] = [];

beforeAll(async () => {
  infra = await startInfra();
  instances = await Promise.all([startService(infra, 0), startService(infra, 1)]);
  const created = await request(instances[0]!.url, 'POST', '/v1/admin/templates', { name: TEMPLATE, pattern: '{PROJECT}-CRASH-{ORIGINATOR}-{SEQ:7}', resetScope: 'NONE', reason: 'crash test' }, adminHeaders(infra));
  expect(created.status).toBe(201);
});

afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  await infra?.stop();
});

describe('MariaDB killed with -9 mid-run and restarted', () => {
  it('every number acknowledged with 2xx is in the ledger; no duplicates, no gaps', async () => {
    const urls = instances.map((i) => i.url);
    const load = runLoad({
      urls,
      clients: 100,
      total: 12_000,
      body: (i) => ({ template: TEMPLATE, fields: { PROJECT: 'LCBP3', ORIGINATOR: COUNTERS[i % COUNTERS.length] } }),
      deadlineMs: 180_000,
      retryPauseMs: 100,
    });
    await sleep(1500);
    const pid = infra.mariadb.pid();
    const killedAt = Date.now();
    await infra.mariadb.kill('SIGKILL');
    // While it is down the service answers 503 with Retry-After (never 500, never a number).
    const during = await request<{ code: string }>(urls[0]!, 'POST', '/v1/numbers', { template: TEMPLATE, fields: { PROJECT: 'LCBP3', ORIGINATOR: 'C1' } }, { 'idempotency-key': 'during-outage' });
    expect(during.status).toBe(503);
    expect(during.headers['retry-after']).toBeDefined();
    const ready = await request(urls[1]!, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    await sleep(2000);
    await infra.mariadb.start();
    const restartedAt = Date.now();
    expect(infra.mariadb.pid()).not.toBe(pid);
    const result = await load;
    const before = result.acks.filter((a) => a.at < killedAt).length;
    const after = result.acks.filter((a) => a.at > restartedAt).length;
    console.log(
      `MariaDB kill -9 at +1.5 s, back after ${((restartedAt - killedAt) / 1000).toFixed(1)} s: ${result.acks.length} acknowledged (${before} before the kill, ${after} after the restart, ${result.acks.filter((a) => a.replayed).length} by replay) in ${(result.elapsedMs / 1000).toFixed(1)} s; retried: ${JSON.stringify([...result.failures].slice(0, 6))}`,
    );
    expect(before).toBeGreaterThan(100);
    expect(after).toBeGreaterThan(100);
    expect(result.abandoned).toBe(0);
    expect(result.acks).toHaveLength(12_000);
    expect(duplicateNumbers(result.acks)).toEqual([]);

    const ledger = await ledgerNumbers(infra, TEMPLATE);
    expect(result.acks.filter((a) => !ledger.has(a.number)).map((a) => a.number)).toEqual([]);
    // A commit whose answer was lost in the crash is in the ledger too; its client got it by replay.
    expect(ledger.size).toBeGreaterThanOrEqual(12_000);
    for (const c of await ledgerCheck(infra, TEMPLATE)) {
      expect(c, c.counterKey).toEqual({ ...c, rows: c.current, distinct: c.current, min: 1, max: c.current });
    }
    // The service recovers by itself.
    for (const url of urls) expect((await request(url, 'GET', '/health/ready')).status).toBe(200);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, down, openTestbedStack, prometheusTargets, status, up, waitFor, type HealthLine, type StackContext, type Testbed } from '../src/index.js';

/**
 * `devstack up` for real: the whole platform (Redis Cluster, MariaDB, PostgreSQL HA, both numbering
 * releases, nginx canary split, monitoring) under supervisord in a testbed workdir, then down and up
 * again on the same data.
 */

let bed: Testbed;
let ctx: StackContext;

const failing = (lines: HealthLine[]) => lines.filter((l) => !l.ok).map((l) => `${l.name}: ${l.detail}`);

/**
 * Every status line ok. Prometheus knows no target right after its start and marks each `up` only after
 * its first scrape, so this also waits until it has targets at all and every one of them is up.
 */
async function waitAllHealthy(timeoutMs = 90_000): Promise<HealthLine[]> {
  let lines: HealthLine[] = [];
  const allUp = async () => {
    const targets = await prometheusTargets(ctx);
    return targets.length > 0 && targets.every((t) => t.health === 'up');
  };
  await waitFor('every devstack status line ok and every scrape target up', async () => (await allUp()) && failing((lines = await status(ctx))).length === 0, { timeoutMs, intervalMs: 1000 }).catch(() => undefined);
  return lines;
}

const entry = () => `http://${ctx.model.canary.listen.host}:${ctx.model.canary.listen.port}`;
const body = { template: 'TRANSMITTAL', fields: { PROJECT: 'LCBP3', ORIGINATOR: 'DEVSTACK' } };

async function allocate(key: string): Promise<{ status: number; release: string | null; json: { number?: string; sequence?: number } }> {
  const res = await fetch(`${entry()}/v1/numbers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, release: res.headers.get('x-release'), json: (await res.json()) as { number?: string; sequence?: number } };
}

beforeAll(async () => {
  // createTestbed's offset already avoids every port fetch() refuses (findFreePortOffset).
  bed = await createTestbed();
  ctx = openTestbedStack(bed, { 'canary.weight': 30 });
}, 30_000);

afterAll(async () => {
  if (ctx) await down(ctx);
  bed?.dispose();
}, 120_000);

describe('devstack up / status / down', () => {
  let first: { number?: string; sequence?: number } = {};

  it('starts the whole platform, every status line ok, and allocates a number through nginx', async () => {
    const steps: string[] = [];
    const t0 = Date.now();
    await up(ctx, ({ component, step }) => steps.push(`${component}:${step}`));
    console.log(`[devstack] up in ${Date.now() - t0} ms`);
    for (const c of ['redis', 'mariadb', 'postgres', 'numbering', 'nginx', 'monitoring']) expect(steps).toContain(`${c}:ready`);

    const lines = await waitAllHealthy();
    expect(failing(lines)).toEqual([]);
    expect(lines.map((l) => l.name)).toEqual(expect.arrayContaining(['redis cluster', 'mariadb', 'postgres ha', 'pgbouncer', 'pgbackrest', 'nginx', 'scrape targets']));
    console.log(`[devstack] ${lines.find((l) => l.name === 'pgbackrest')?.detail}`);
    const targets = await prometheusTargets(ctx);
    const jobs = new Set(targets.map((t) => t.labels.job));
    console.log(`[devstack] ${targets.length} scrape targets up, jobs: ${[...jobs].sort().join(', ')}`);
    expect(targets.filter((t) => t.health !== 'up')).toEqual([]);
    expect(jobs.size).toBeGreaterThanOrEqual(6);

    const res = await allocate(`devstack-test-${Date.now()}-1`);
    expect(res.status).toBe(201);
    expect(['stable', 'canary']).toContain(res.release);
    expect(res.json.number).toMatch(/^LCBP3-TRN-DEVSTACK-\d{6}$/);
    first = res.json;
  }, 240_000);

  it('keeps the ledger across down and up', async () => {
    await down(ctx);
    expect((await status(ctx))[0]?.ok).toBe(false);

    await up(ctx);
    const lookup = await fetch(`${entry()}/v1/numbers/${encodeURIComponent(first.number!)}`, { signal: AbortSignal.timeout(10_000) });
    expect(lookup.status).toBe(200);
    expect(JSON.stringify(await lookup.json())).toContain(first.number);

    const next = await allocate(`devstack-test-${Date.now()}-2`);
    expect(next.status).toBe(201);
    expect(next.json.sequence).toBe(first.sequence! + 1);
  }, 240_000);
});

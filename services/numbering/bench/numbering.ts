/**
 * `pnpm bench numbering`: allocations/s and latency (p50/p99) of POST /v1/numbers at 64 concurrent
 * clients on one hot counter, with coalescing on (one transaction per batch) and off (one
 * transaction per number) in the same run, against a real Redis Cluster and MariaDB.
 * Prints figures and the ratio; never passes or fails on speed.
 *
 * Options (env or --flag=value): clients (64), seconds (15 per mode), warmup (3), instances (1),
 * counters (1). NUMBERING_BENCH_DEVSTACK=<workdir> reuses a running devstack's Redis and MariaDB
 * (the bench still starts its own service processes, on free ports). BENCH_PROFILE_DIR=<dir> writes
 * CPU profiles of the service processes.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { migrationEnvironment, serviceEnvironment, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import { openStack, startDaemon, waitFor } from '@numbering/devstack';
import { loadMigrationEnv } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { request, serviceDir, startInfra, type Infra } from '../test/support/stack.js';

const arg = (name: string, fallback: number) => {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = flag?.split('=')[1] ?? process.env[`BENCH_${name.toUpperCase()}`];
  return value === undefined ? fallback : Number(value);
};
const CLIENTS = arg('clients', 64);
const SECONDS = arg('seconds', 15);
const WARMUP = arg('warmup', 3);
const INSTANCES = Math.min(2, Math.max(1, arg('instances', 1)));
const COUNTERS = Math.max(1, arg('counters', 1));
/** --fallback=1: also measure coalescing in DB-only fallback mode (Redis unreachable). */
const WITH_FALLBACK = arg('fallback', 0) === 1;

interface ModeResult {
  mode: string;
  /** Allocations per transaction and mean lock wait, from the instances' /metrics. */
  batch: number;
  lockWaitMs: number;
  ok: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startInstance(model: PlatformModel, secrets: PlatformSecrets, logDir: string, index: number, coalesce: boolean, redis = true) {
  const release = model.service.releases[index % 2]!;
  const port = await freePort();
  const env: Record<string, string> = { ...serviceEnvironment(model, release, secrets), HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', COALESCE: String(coalesce) };
  // No Redis: a port nothing listens on, so the instance stays in DB-only fallback mode.
  if (!redis) env.REDIS_NODES = `127.0.0.1:${await freePort()}`;
  // BENCH_PROFILE_DIR=<dir>: CPU profiles of the service processes (written when they exit).
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const logFile = join(logDir, `bench-${coalesce ? 'coalesce' : 'per-number'}-${index}.log`);
  const proc = startDaemon({ name: `bench-${index}`, command: process.execPath, args: [...profile, '--import', 'tsx', 'src/server.ts'], cwd: serviceDir, env, logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('bench service /health/ready', async () => (await request(url, 'GET', '/health/ready')).status === 200, { timeoutMs: 60_000, intervalMs: 200, logFile });
  // Let the Redis probe switch the instance out of its initial fallback mode.
  if (redis) await waitFor('bench service Redis mode', async () => (await request<{ fallback_mode: boolean }>(url, 'GET', '/health/numbering')).body.fallback_mode === false, { timeoutMs: 30_000, intervalMs: 200, logFile });
  return { url, stop: () => proc.stop('SIGTERM', 20_000) };
}

async function drive(urls: string[], template: string, originators: string[], seconds: number): Promise<{ latencies: number[]; errors: number; elapsed: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const i = n++;
        const t = performance.now();
        try {
          const res = await request(urls[i % urls.length]!, 'POST', '/v1/numbers', { template, fields: { ORIGINATOR: originators[i % originators.length] } }, { 'idempotency-key': randomUUID() });
          if (res.status === 201) latencies.push(performance.now() - t);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { latencies, errors, elapsed: (performance.now() - started) / 1000 };
}

async function batchFigures(urls: string[]): Promise<{ batch: number; lockWaitMs: number }> {
  let batchSum = 0;
  let batches = 0;
  let waitSum = 0;
  let waits = 0;
  for (const url of urls) {
    const text = String((await request(url, 'GET', '/metrics')).body);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    batchSum += value('numbering_allocation_batch_size_sum');
    batches += value('numbering_allocation_batch_size_count');
    waitSum += value('numbering_lock_wait_seconds_sum');
    waits += value('numbering_lock_wait_seconds_count');
  }
  return { batch: batches ? batchSum / batches : NaN, lockWaitMs: waits ? (waitSum / waits) * 1000 : NaN };
}

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function runMode(model: PlatformModel, secrets: PlatformSecrets, logDir: string, coalesce: boolean, template: string, redis = true): Promise<ModeResult> {
  const instances = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => startInstance(model, secrets, logDir, i, coalesce, redis)));
  try {
    const urls = instances.map((i) => i.url);
    const tag = `${coalesce ? 'C' : 'P'}${Date.now().toString(36)}`;
    const originators = Array.from({ length: COUNTERS }, (_, i) => `${tag}${i}`);
    await drive(urls, template, originators, WARMUP);
    const { latencies, errors, elapsed } = await drive(urls, template, originators, SECONDS);
    latencies.sort((a, b) => a - b);
    const coalescing = await batchFigures(urls);
    return { ...coalescing, mode: !redis ? 'coalescing on, DB-only fallback' : coalesce ? 'coalescing on' : 'coalescing off (1 tx/number)', ok: latencies.length, errors, perSecond: latencies.length / elapsed, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), max: latencies.at(-1) ?? NaN };
  } finally {
    await Promise.all(instances.map((i) => i.stop()));
  }
}

async function main() {
  const t0 = Date.now();
  const reuse = process.env.NUMBERING_BENCH_DEVSTACK;
  let infra: Infra | undefined;
  let model: PlatformModel;
  let secrets: PlatformSecrets;
  let logDir: string;
  if (reuse) {
    const ctx = openStack({ workdir: reuse });
    ({ model, secrets } = ctx);
    logDir = join(ctx.workdir, 'logs');
    await migrate(loadMigrationEnv(migrationEnvironment(model, secrets)));
    console.log(`reusing the devstack in ${ctx.workdir}`);
  } else {
    infra = await startInfra();
    ({ model, secrets } = infra.testbed);
    logDir = join(infra.testbed.workdir, 'logs');
    console.log(`started Redis Cluster (6 nodes) and MariaDB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const admin = { authorization: `Bearer ${secrets.service.adminToken}` };
  const template = `BENCH${Date.now().toString(36).toUpperCase()}`;
  try {
    // A helper instance only to create the template through the admin API.
    const helper = await startInstance(model, secrets, logDir, 0, true);
    const created = await request(helper.url, 'POST', '/v1/admin/templates', { name: template, pattern: 'BENCH-{ORIGINATOR}-{SEQ:8}', resetScope: 'NONE', reason: 'benchmark template' }, admin);
    await helper.stop();
    if (created.status !== 201) throw new Error(`creating the bench template failed: ${created.status} ${JSON.stringify(created.body)}`);

    console.log(`\n${CLIENTS} concurrent clients, ${INSTANCES} instance(s), ${COUNTERS} counter(s), ${SECONDS} s per mode after ${WARMUP} s warm-up\n`);
    const on = await runMode(model, secrets, logDir, true, template);
    const off = await runMode(model, secrets, logDir, false, template);
    const row = (r: ModeResult) =>
      `${r.mode.padEnd(30)} ${r.perSecond.toFixed(0).padStart(8)} /s   p50 ${r.p50.toFixed(1).padStart(7)} ms   p99 ${r.p99.toFixed(1).padStart(7)} ms   max ${r.max.toFixed(0).padStart(6)} ms   ok ${String(r.ok).padStart(7)}   errors ${r.errors}   numbers/tx ${r.batch.toFixed(1)}   lock wait ${r.lockWaitMs.toFixed(1)} ms`;
    console.log(row(on));
    console.log(row(off));
    if (WITH_FALLBACK) console.log(row(await runMode(model, secrets, logDir, true, template, false)));
    console.log(`\nthroughput ratio (coalescing / per-number): ${(on.perSecond / off.perSecond).toFixed(2)}x   (target >= 5x; coalescing p99 target <= 50 ms: ${on.p99.toFixed(1)} ms)`);
    console.log(`total bench time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    await infra?.stop();
  }
}

// The devstack harness unrefs its children and timers; keep the loop alive while we await them.
const keepAlive = setInterval(() => {}, 1000);
try {
  await main();
} finally {
  clearInterval(keepAlive);
}

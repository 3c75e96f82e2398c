import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { endpointString, type Endpoint, type ServiceRelease } from '@numbering/blueprint';
import {
  Supervisor,
  alertsFile,
  createTestbed,
  down,
  openStack,
  openTestbedStack,
  postgresAppClient,
  postgresLeader,
  postgresUnhealthyReason,
  prometheusTargets,
  run,
  sleep,
  status,
  up,
  waitFor,
  type HealthLine,
  type StackContext,
  type Testbed,
} from '@numbering/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FAILED, main } from '../src/main.js';
import { childPids, devstackTarget, supervisorRestart } from '../src/targets/devstack.js';

/**
 * Issue 5's end-to-end checks on ONE full devstack (`openStack` + `up` in a testbed directory: Redis
 * Cluster, MariaDB, both numbering releases, nginx, Prometheus/Alertmanager/webhook, exporters, etcd +
 * 3 Patroni + HAProxy + PgBouncer under supervisord), one after the other on the same stack:
 *   a. 10,000 allocations through nginx: all 201, canary share within 1 point of the weight, gapless;
 *   b. weight changes under load through the devstack target: no failed request, the split follows;
 *   c. an alert rule fires and the devstack's webhook receiver gets it;
 *   d. a broken canary (FAULT_HTTP_500_RATIO) is rolled back by `canary run`;
 *   e. the Patroni leader dies: a new one takes writes through HAProxy within 15 s, no acked row lost.
 * Figures are printed for the CI log; nothing asserts on speed except the promised 15 s failover.
 * E2E_KEEP_WORKDIR=1 keeps the testbed directory (every daemon's log) after the run.
 */

const WEIGHT = 30;
const FAILOVER_BOUND_MS = 15_000;
/** Every second API request of the canary answers 500 (the service's test-only switch). */
const FAULTY_CANARY = { canary: { FAULT_HTTP_500_RATIO: '0.5' } };

let bed: Testbed;
let ctx: StackContext;
/** Processes a test froze (SIGSTOP) and the signal that undoes it, should the test stop half-way. */
const frozen = new Map<number, 'SIGCONT' | 'SIGKILL'>();

function freeze(pid: number, undo: 'SIGCONT' | 'SIGKILL'): void {
  process.kill(pid, 'SIGSTOP');
  frozen.set(pid, undo);
}

function unfreeze(pid: number): void {
  const undo = frozen.get(pid);
  frozen.delete(pid);
  if (!undo) return;
  try {
    process.kill(pid, undo);
  } catch {
    // already gone
  }
}

const log = (line: string) => console.log(`[e2e] ${line}`);
const supervisor = () => new Supervisor(ctx.workdir);
const release = (name: 'stable' | 'canary'): ServiceRelease => ctx.model.service.releases.find((r) => r.release === name)!;
const stackWeight = () => (JSON.parse(readFileSync(join(ctx.workdir, 'stack.json'), 'utf8')) as Record<string, unknown>)['canary.weight'];
const pct = (part: number, whole: number) => (whole ? (100 * part) / whole : 0);

// --- HTTP load ------------------------------------------------------------------------------------

interface Answer {
  status: number;
  /** X-Release of the answer ('none' without an answer). */
  release: string;
  startedAt: number;
  number?: string;
  sequence?: number;
  counterKey?: string;
  code?: string;
  error?: string;
}

/** One POST /v1/numbers; never throws (a failed request is an answer with status 0 and the error). */
function allocate(to: Endpoint, key: string, originator: string, agent: Agent | false): Promise<Answer> {
  const startedAt = Date.now();
  const body = JSON.stringify({ template: 'TRANSMITTAL', fields: { PROJECT: 'LCBP3', ORIGINATOR: originator } });
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: to.host,
        port: to.port,
        method: 'POST',
        path: '/v1/numbers',
        agent,
        timeout: 15_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': key },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: { number?: string; sequence?: number; counterKey?: string; code?: string } = {};
          try {
            json = JSON.parse(text) as typeof json;
          } catch {
            // not JSON: status and release say enough
          }
          resolve({ status: res.statusCode ?? 0, release: String(res.headers['x-release'] ?? 'none'), startedAt, ...json });
        });
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, release: 'none', startedAt, error: e.code ?? e.message }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, release: 'none', startedAt, error: e.code ?? e.message }));
    req.end(body);
  });
}

interface Load {
  /** Answers so far, in completion order. */
  answers: Answer[];
  /** Stops sending (requests in flight complete) and returns every answer. */
  stop(): Promise<Answer[]>;
  /** Resolves with every answer once `total` requests are answered (or after stop()). */
  done: Promise<Answer[]>;
}

/**
 * `concurrency` clients POSTing through nginx back to back, each request with its own Idempotency-Key,
 * round-robin over `originators` (one counter each). Fresh connections (`keepAlive` false) are what a
 * client sees across an nginx reload without the keep-alive close race (see the weight daemon test).
 */
function startLoad(opts: { concurrency: number; originators: string[]; total?: number; keepAlive: boolean }): Load {
  const agent = opts.keepAlive ? new Agent({ keepAlive: true, maxSockets: opts.concurrency }) : false;
  const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const answers: Answer[] = [];
  let sent = 0;
  let stopped = false;
  const client = async () => {
    while (!stopped && (opts.total === undefined || sent < opts.total)) {
      const i = sent++;
      const originator = opts.originators[i % opts.originators.length]!;
      answers.push(await allocate(ctx.model.canary.listen, `e2e-${run}-${i}`, originator, agent));
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, client)).then(() => {
    if (agent) agent.destroy();
    return answers;
  });
  return {
    answers,
    done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

interface Summary {
  total: number;
  created: number;
  canary: number;
  /** `<status> <code or error>` -> count, for everything that was not a 201. */
  failures: Record<string, number>;
}

function summarize(answers: Answer[]): Summary {
  const failures: Record<string, number> = {};
  for (const a of answers) {
    if (a.status === 201) continue;
    const key = `${a.status} ${a.code ?? a.error ?? ''}`.trim();
    failures[key] = (failures[key] ?? 0) + 1;
  }
  return { total: answers.length, created: answers.filter((a) => a.status === 201).length, canary: answers.filter((a) => a.release === 'canary').length, failures };
}

/**
 * Numbers handed out must be unique and every counter's sequences 1..n without a hole (each phase uses
 * counters of its own, so they start at 1). Returns what is wrong, empty when nothing is.
 */
function ledgerProblems(answers: Answer[]): string[] {
  const problems: string[] = [];
  const created = answers.filter((a) => a.status === 201);
  const numbers = new Set(created.map((a) => a.number));
  if (numbers.size !== created.length) problems.push(`${created.length - numbers.size} numbers handed out twice`);
  const byCounter = new Map<string, number[]>();
  for (const a of created) byCounter.set(a.counterKey ?? '?', [...(byCounter.get(a.counterKey ?? '?') ?? []), a.sequence ?? -1]);
  for (const [counter, sequences] of byCounter) {
    const sorted = sequences.sort((x, y) => x - y);
    const hole = sorted.findIndex((s, i) => s !== i + 1);
    if (hole >= 0) problems.push(`${counter}: sequence ${hole + 1} expected, got ${sorted[hole]} (${sorted.length} numbers, max ${sorted.at(-1)})`);
  }
  return problems;
}

// --- stack helpers ------------------------------------------------------------------------------

const failing = (lines: HealthLine[]) => lines.filter((l) => !l.ok).map((l) => `${l.name}: ${l.detail}`);

/** Every status line ok and every Prometheus target up (it knows none right after its start). */
async function waitAllHealthy(timeoutMs: number): Promise<HealthLine[]> {
  let lines: HealthLine[] = [];
  const allUp = async () => {
    const targets = await prometheusTargets(ctx);
    return targets.length > 0 && targets.every((t) => t.health === 'up');
  };
  await waitFor('every devstack status line ok and every scrape target up', async () => (await allUp()) && failing((lines = await status(ctx))).length === 0, { timeoutMs, intervalMs: 1000 }).catch(() => undefined);
  return lines;
}

async function answersReady(r: ServiceRelease): Promise<boolean> {
  const res = await fetch(`http://${endpointString(r)}/health/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  return res?.status === 200;
}

/** What a release that does not come up is doing: its supervisord state, who holds its port, its last log lines. */
async function whyNotReady(r: ServiceRelease): Promise<string> {
  const state = (await supervisor().status().catch(() => new Map<string, { state: string; pid?: number }>())).get(r.name);
  const listeners = (await run('ss', ['-Hltnp', `sport = :${r.port}`]).catch(() => ({ stdout: 'ss failed' }))).stdout.trim();
  const logFile = join(ctx.workdir, 'logs', `${r.name}.out`);
  const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  return `${r.name} is ${state?.state ?? 'unknown'} (pid ${state?.pid ?? '-'}); listening on ${r.port}: ${listeners || 'nobody'}; last lines of ${logFile}:\n${tail}`;
}

/** Restarts a release as supervisorRestart does; a failure says why the release did not come up. */
async function restartRelease(c: StackContext, r: ServiceRelease): Promise<void> {
  try {
    await supervisorRestart({ readyTimeoutMs: 90_000 })(c, r);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await whyNotReady(r)}`);
  }
}

interface AlertNotification {
  receivedAt: string;
  payload: { status: string; receiver?: string; alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[] };
}

async function webhookAlerts(): Promise<AlertNotification[]> {
  const res = await fetch(`http://${endpointString(ctx.model.monitoring.webhook)}/alerts`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as AlertNotification[];
}

beforeAll(async () => {
  // createTestbed's offset already avoids every port fetch() refuses (findFreePortOffset).
  bed = await createTestbed();
  ctx = openTestbedStack(bed, {
    'canary.weight': WEIGHT,
    // Stack config, not a test hook: 5 s scrapes let the canary analysis use a 30 s window and the
    // alert reach the webhook about a minute after its `for:`, instead of minutes.
    'monitoring.scrapeInterval': '5s',
    'monitoring.evaluationInterval': '5s',
  });
  const t0 = Date.now();
  await up(ctx);
  log(`devstack up in ${((Date.now() - t0) / 1000).toFixed(1)} s (port offset ${ctx.model.config.local.portOffset}, ${ctx.workdir})`);
}, 400_000);

afterAll(async () => {
  for (const pid of [...frozen.keys()]) unfreeze(pid);
  if (ctx) await down(ctx);
  if (process.env.E2E_KEEP_WORKDIR) console.log(`[e2e] kept ${bed?.workdir}`);
  else bed?.dispose();
}, 180_000);

describe('the platform end to end on one devstack', () => {
  it('is healthy: every status line ok and every component scraped (all Prometheus targets up)', async () => {
    const lines = await waitAllHealthy(120_000);
    expect(failing(lines)).toEqual([]);
    const targets = await prometheusTargets(ctx);
    log(`${targets.length} scrape targets up; jobs ${[...new Set(targets.map((t) => t.labels.job))].sort().join(', ')}`);
    expect(targets.filter((t) => t.health !== 'up')).toEqual([]);
  }, 180_000);

  it(`a. allocates 10,000 numbers through nginx: all 201, canary share within 1 point of ${WEIGHT} %, unique and gapless per counter`, async () => {
    const t0 = Date.now();
    const answers = await startLoad({ total: 10_000, concurrency: 16, originators: ['E2EA0', 'E2EA1', 'E2EA2', 'E2EA3'], keepAlive: true }).done;
    const seconds = (Date.now() - t0) / 1000;
    const s = summarize(answers);
    const share = pct(s.canary, s.total);
    log(`a. ${s.total} requests in ${seconds.toFixed(1)} s (${(s.total / seconds).toFixed(0)}/s, 16 clients): ${s.created} x 201, canary ${s.canary} = ${share.toFixed(2)} % at weight ${WEIGHT}; failures ${JSON.stringify(s.failures)}`);
    expect(s.failures).toEqual({});
    expect(s.created).toBe(10_000);
    expect(Math.abs(share - WEIGHT)).toBeLessThanOrEqual(1);
    expect(ledgerProblems(answers)).toEqual([]);
  }, 600_000);

  it('b. changes the weight under load through the devstack target: no failed request, the split follows the new weight', async () => {
    const target = devstackTarget({ workdir: ctx.workdir });
    const load = startLoad({ concurrency: 8, originators: ['E2EB'], keepAlive: false });
    await waitFor('load to run', () => load.answers.length >= 200, { timeoutMs: 60_000 });
    const changes = [70, 10, 90, 50];
    const changeMs: number[] = [];
    for (const w of changes) {
      const t0 = Date.now();
      await target.setWeight(w);
      changeMs.push(Date.now() - t0);
      if (w !== changes.at(-1)) await sleep(1500);
    }
    const settledAt = Date.now();
    await waitFor('1,500 requests at the last weight', () => load.answers.filter((a) => a.startedAt > settledAt).length >= 1500, { timeoutMs: 180_000, intervalMs: 200 });
    const answers = await load.stop();
    const all = summarize(answers);
    const after = summarize(answers.filter((a) => a.startedAt > settledAt));
    const share = pct(after.canary, after.total);
    log(
      `b. weight ${WEIGHT} -> ${changes.join(' -> ')} under load (setWeight took ${changeMs.join(', ')} ms): ${all.total} requests, ${all.total - all.created} failed ${JSON.stringify(all.failures)}; ` +
        `after the last change ${after.total} requests, canary ${share.toFixed(2)} % at weight ${changes.at(-1)}`,
    );
    expect(all.failures).toEqual({});
    expect(all.created).toBe(all.total);
    expect(stackWeight()).toBe(changes.at(-1));
    // Smooth weighted round robin per nginx worker is exact up to a request per worker, not a random draw.
    expect(Math.abs(share - changes.at(-1)!)).toBeLessThanOrEqual(2);
    expect(ledgerProblems(answers)).toEqual([]);
  }, 600_000);

  it('c. fires ServiceDown when a release stops answering, and the webhook receiver gets it (GET /alerts and alerts.jsonl)', async () => {
    // The canary leaves the split first, so taking it down costs no request.
    await devstackTarget({ workdir: ctx.workdir }).setWeight(0);
    const canary = release('canary');
    const pid = (await supervisor().status()).get(canary.name)?.pid;
    expect(pid).toBeGreaterThan(0);
    // Frozen (SIGSTOP: scrapes time out, up == 0), not stopped: a stopped release frees its port for the
    // minute the alert takes, and test beds of other test files pick free ports at random meanwhile.
    freeze(pid!, 'SIGCONT');
    const frozenAt = Date.now();
    try {
      const isOurs = (n: AlertNotification) =>
        n.payload.status === 'firing' && Date.parse(n.receivedAt) >= frozenAt && n.payload.alerts.some((a) => a.status === 'firing' && a.labels.alertname === 'ServiceDown' && a.labels.release === 'canary');
      let notification: AlertNotification | undefined;
      await waitFor('ServiceDown{release="canary"} at the webhook receiver', async () => (notification = (await webhookAlerts()).find(isOurs)) !== undefined, { timeoutMs: 300_000, intervalMs: 2000 });
      const alert = notification!.payload.alerts.find((a) => a.labels.alertname === 'ServiceDown')!;
      log(`c. ${canary.name} frozen; ServiceDown (${alert.labels.severity}, "${alert.annotations.summary}") reached the webhook after ${((Date.parse(notification!.receivedAt) - frozenAt) / 1000).toFixed(1)} s (rule for: 1m, 5 s scrape/evaluation)`);
      expect(alert.labels).toMatchObject({ alertname: 'ServiceDown', severity: 'critical', release: 'canary', instance: endpointString(canary) });
      expect(alert.annotations.summary).toContain('canary');
      // The receiver keeps what it got in alerts.jsonl, one notification per line: GET /alerts serves that file.
      const lines = readFileSync(alertsFile(ctx), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AlertNotification);
      expect(lines.some(isOurs)).toBe(true);
    } finally {
      unfreeze(pid!);
      await waitFor(`${canary.name} /health/ready after it was thawed`, () => answersReady(canary), { timeoutMs: 90_000, intervalMs: 500 }).catch(async (e: Error) => {
        throw new Error(`${e.message}\n${await whyNotReady(canary)}`);
      });
    }
  }, 600_000);

  it('d. rolls back a broken canary: `canary run` fails the analysis on its 5xx, weight 0, then every request is served by stable', async () => {
    const canary = release('canary');
    await restartRelease({ ...openStack({ workdir: ctx.workdir }), extraServiceEnv: FAULTY_CANARY }, canary);
    try {
      // The switch reached the program: straight to the canary, every second API request is a 500.
      const direct = [await allocate(canary, `e2e-direct-${Date.now()}-1`, 'E2EDX', false), await allocate(canary, `e2e-direct-${Date.now()}-2`, 'E2EDX', false)];
      expect(direct.map((a) => `${a.status} ${a.release}`).sort()).toEqual(['201 canary', '500 canary']);
      expect(direct.find((a) => a.status === 500)?.code).toBe('FAULT_INJECTED');

      const load = startLoad({ concurrency: 8, originators: ['E2ED'], keepAlive: false });
      await waitFor('load to run', () => load.answers.length >= 200, { timeoutMs: 60_000 });
      const out: string[] = [];
      const t0 = Date.now();
      const code = await main(
        ['run', '--workdir', ctx.workdir, '--steps', '20,50,100', '--interval', '15s', '--window', '30s', '--max-errors', '5', '--min-requests', '10', '--max-deviation', '50', '--error-floor', '1', '--max-inconclusive', '3'],
        {
          out: (l) => out.push(l),
          err: (l) => out.push(`error: ${l}`),
          targetFor: (_stack, _values, targetLog) => devstackTarget({ workdir: ctx.workdir, extraServiceEnv: FAULTY_CANARY, log: targetLog }),
        },
      );
      const rolledBackAt = Date.now();
      await waitFor('1,000 requests after the rollback', () => load.answers.filter((a) => a.startedAt > rolledBackAt).length >= 1000, { timeoutMs: 180_000, intervalMs: 200 });
      const answers = await load.stop();
      const during = summarize(answers.filter((a) => a.startedAt <= rolledBackAt));
      const after = summarize(answers.filter((a) => a.startedAt > rolledBackAt));
      log(`d. canary run exited ${code} after ${((rolledBackAt - t0) / 1000).toFixed(1)} s:\n${out.map((l) => `     ${l}`).join('\n')}`);
      log(`d. before the rollback ${during.total} requests, ${during.canary} on the canary, failures ${JSON.stringify(during.failures)}; after it ${after.total} requests, ${after.canary} on the canary, failures ${JSON.stringify(after.failures)}`);

      expect(code).toBe(EXIT_FAILED);
      const text = out.join('\n');
      expect(text).toMatch(/weight 20%: fail - canary answered [0-9.]+ requests with 5xx \(max 5\)/);
      expect(text).toMatch(/rolled back at 20%/);
      expect(stackWeight()).toBe(0);
      expect(await devstackTarget({ workdir: ctx.workdir }).getWeight()).toBe(0);
      // Users saw the broken canary until the rollback, and nothing of it after.
      expect(during.failures['500 FAULT_INJECTED'] ?? 0).toBeGreaterThan(0);
      expect(after.failures).toEqual({});
      expect(after.canary).toBe(0);
      expect(after.created).toBe(after.total);
      // Injected 500s allocate nothing: the numbers handed out stay gapless.
      expect(ledgerProblems(answers)).toEqual([]);
    } finally {
      // The canary program as the stack declares it again (no fault switch).
      await restartRelease(openStack({ workdir: ctx.workdir }), canary);
    }
    const healed = await allocate(canary, `e2e-healed-${Date.now()}`, 'E2EDX', false);
    expect(`${healed.status} ${healed.release}`).toBe('201 canary');
  }, 600_000);

  it(`e. the Patroni leader dies: a new leader takes writes through HAProxy within ${FAILOVER_BOUND_MS / 1000} s and no acknowledged row is lost`, async () => {
    const pg = ctx.model.postgres;
    const primaryPort = pg.haproxy.primaryPort;
    const withClient = async <T>(fn: (c: ReturnType<typeof postgresAppClient>) => Promise<T>): Promise<T> => {
      const c = postgresAppClient(ctx.model, ctx.secrets, primaryPort);
      try {
        await c.connect();
        return await fn(c);
      } finally {
        await c.end().catch(() => undefined);
      }
    };
    await withClient((c) => c.query('CREATE TABLE IF NOT EXISTS e2e_failover_writes (seq int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())'));

    const oldLeader = await postgresLeader(ctx.model);
    expect(oldLeader).toBeDefined();
    const member = pg.members.find((m) => m.name === oldLeader)!;
    const program = `patroni-${oldLeader}`;
    const patroniPid = (await supervisor().status()).get(program)?.pid;
    expect(patroniPid).toBeGreaterThan(0);

    // A writer inserting seq 1, 2, 3, ... every 50 ms through HAProxy's primary port, reconnecting after any error.
    const attempts: { seq: number; ok: boolean; startedAt: number; at: number; error?: string }[] = [];
    let writing = true;
    const writer = (async () => {
      let c: ReturnType<typeof postgresAppClient> | undefined;
      for (let seq = 1; writing; seq++) {
        const startedAt = Date.now();
        try {
          if (!c) {
            c = postgresAppClient(ctx.model, ctx.secrets, primaryPort);
            await c.connect();
          }
          await c.query('INSERT INTO e2e_failover_writes (seq) VALUES ($1)', [seq]);
          attempts.push({ seq, ok: true, startedAt, at: Date.now() });
        } catch (e) {
          attempts.push({ seq, ok: false, startedAt, at: Date.now(), error: (e as Error).message });
          void c?.end().catch(() => undefined);
          c = undefined;
        }
        await sleep(50);
      }
      await c?.end().catch(() => undefined);
    })();
    await waitFor('20 acknowledged writes', () => attempts.filter((a) => a.ok).length >= 20, { timeoutMs: 30_000 });

    // The leader dies: kill -9 of its Patroni, postmaster and backends, as the harness test does. But
    // supervisord restarts a killed program at once, and a Patroni that finds the leader key still its
    // own takes the leadership back ("starting as readonly because i had the session lock"): a process
    // crash, not a lost node. So Patroni is frozen first (SIGSTOP: it can neither renew the key nor react),
    // PostgreSQL killed, then supervisord is told to stop the program: its SIGTERM cannot reach the frozen
    // Patroni, and once supervisord is STOPPING, the kill -9 ends it as stopped, not as crashed.
    const postmasterPid = Number(readFileSync(join(member.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    freeze(patroniPid!, 'SIGKILL');
    for (const pid of [postmasterPid, ...childPids(postmasterPid)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const killedAt = Date.now();
    const stopped = supervisor().stop([program]);
    await waitFor(`supervisord to be stopping ${program}`, async () => (await supervisor().status()).get(program)?.state === 'STOPPING', { timeoutMs: 30_000, intervalMs: 100 });
    unfreeze(patroniPid!);
    await stopped;
    const deadAfter = Date.now() - killedAt;

    // Asks only the survivors: a frozen member's REST API would hold every poll up to its timeout.
    const survivors = pg.members.filter((m) => m.name !== oldLeader);
    let newLeader: string | undefined;
    await waitFor('a new leader', async () => {
      const codes = await Promise.all(survivors.map((m) => fetch(`http://${m.host}:${m.restPort}/primary`, { signal: AbortSignal.timeout(500) }).then((r) => r.status, () => 0)));
      newLeader = survivors.find((_, i) => codes[i] === 200)?.name;
      return newLeader !== undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });
    const leaderAfter = Date.now() - killedAt;
    // An INSERT sent before the kill may still be acknowledged just after it (the answer was on its way):
    // the outage ends with the first write that was sent after the kill and acknowledged.
    const sentAfterKill = (a: { ok: boolean; startedAt: number }) => a.ok && a.startedAt > killedAt;
    await waitFor('a write sent after the kill and acknowledged', () => attempts.some(sentAfterKill), { timeoutMs: 90_000, intervalMs: 50 });
    await sleep(1000);
    writing = false;
    await writer;

    const firstOk = attempts.find(sentAfterKill)!;
    const outageMs = firstOk.at - killedAt;
    const acked = attempts.filter((a) => a.ok).map((a) => a.seq);
    const failed = attempts.filter((a) => !a.ok);
    const stored = new Set((await withClient((c) => c.query<{ seq: number }>('SELECT seq FROM e2e_failover_writes'))).rows.map((r) => r.seq));
    const lost = acked.filter((seq) => !stored.has(seq));
    log(
      `e. killed leader ${oldLeader} (all its processes gone after ${(deadAfter / 1000).toFixed(1)} s): new leader ${newLeader} after ${(leaderAfter / 1000).toFixed(1)} s, writes through HAProxy again after ${(outageMs / 1000).toFixed(1)} s; ` +
        `${acked.length} writes acknowledged, ${failed.length} failed, ${lost.length} acknowledged rows lost; errors ${JSON.stringify([...new Set(failed.map((f) => f.error))].slice(0, 4))}`,
    );
    expect(newLeader).not.toBe(oldLeader);
    expect(outageMs).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    expect(lost).toEqual([]);

    // The dead member comes back through supervisord and rejoins as a replica (pg_rewind if it diverged).
    expect((await supervisor().status()).get(program)?.state).toBe('STOPPED');
    const rejoinAt = Date.now();
    await supervisor().start([program]);
    let reason: string | undefined;
    await waitFor('the old leader back as a streaming replica, HAProxy agreeing', async () => (reason = await postgresUnhealthyReason(ctx.model, true)) === undefined, { timeoutMs: 120_000, intervalMs: 500 }).catch((e: Error) => {
      throw new Error(`${e.message}; last state: ${reason}`);
    });
    log(`e. ${oldLeader} started again by supervisord and streaming from ${newLeader} again after ${((Date.now() - rejoinAt) / 1000).toFixed(1)} s`);
    expect(await postgresLeader(ctx.model)).toBe(newLeader);
    const restarted = (await supervisor().status()).get(program);
    expect(restarted?.state).toBe('RUNNING');
    expect(restarted?.pid).not.toBe(patroniPid);
  }, 600_000);
});

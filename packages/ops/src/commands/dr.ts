import { connect } from 'node:net';
import { endpointString, type Endpoint } from '@numbering/blueprint';
import { components, httpOk, openStack, status as stackStatus, Supervisor, type StackContext } from '@numbering/devstack';
import { parseCommandArgs, parsePositiveInt, UsageError, type Command } from '../command.js';
import { OpsError, type OpsContext } from '../context.js';
import { findLatestBackup } from '../mariadb-backup.js';

/**
 * `ops dr`: the disaster-recovery order of the operations guide as one command. Each step runs
 * only when the ones before it left the platform in a state it can build on: Redis first (the
 * service can run without it, so a broken cluster is reported, not fatal), then MariaDB, the
 * restore (with the service stopped, so nothing writes while the ledger is replaced), the ledger
 * integrity (the service is not reopened on a broken ledger), the service, and the health checks.
 * The steps that already exist as commands (`redis check`, `restore mariadb`, `integrity`) run
 * as those commands, so `dr` does exactly what an operator would do by hand.
 */

export type DrStepName = 'redis' | 'database' | 'restore' | 'integrity' | 'service' | 'health';

export interface DrCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** What `dr` does to the platform itself; the devstack starts processes, other targets only check. */
export interface DrPlatform {
  /** Makes sure the data store's processes run (devstack) or that it accepts connections. */
  ensureRunning(store: 'redis' | 'mariadb'): Promise<string>;
  /** No release may write while the ledger is replaced. */
  stopService(): Promise<string>;
  startService(): Promise<string>;
  healthChecks(): Promise<DrCheck[]>;
}

export interface DrStepResult {
  step: DrStepName;
  outcome: 'ok' | 'warning' | 'failed' | 'skipped';
  detail: string;
  ms: number;
}

const STEPS: readonly { step: DrStepName; title: string }[] = [
  { step: 'redis', title: 'Redis Cluster' },
  { step: 'database', title: 'MariaDB' },
  { step: 'restore', title: 'restore the ledger' },
  { step: 'integrity', title: 'ledger integrity' },
  { step: 'service', title: 'numbering service' },
  { step: 'health', title: 'health checks' },
];

/** `--from latest`: the newest MariaDB backup of this database in the backup directory. */
export function latestMariaDbBackup(ctx: OpsContext): string {
  const latest = findLatestBackup(ctx);
  if (!latest) throw new OpsError(`--from latest: no MariaDB backup in ${ctx.backupDir} (run \`pnpm ops backup mariadb\` first, or pass --from FILE)`);
  return latest;
}

function tcpAccepts(e: Endpoint, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: e.host, port: e.port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The devstack: supervisord starts what is not running, and the components' own readiness checks decide when it is up. */
export function devstackPlatform(ctx: OpsContext): DrPlatform {
  if (!ctx.workdir) throw new OpsError('dr on the devstack needs the devstack directory');
  const stack: StackContext = openStack({ workdir: ctx.workdir });
  const supervisor = new Supervisor(stack.workdir);
  const component = (name: string) => components.find((c) => c.name === name)!;
  const requireSupervisor = () => {
    if (!supervisor.pid()) throw new OpsError(`the devstack in ${stack.workdir} is not running (no supervisord): \`pnpm devstack up\` first; it keeps the data directories, and dr then restores into them`);
  };
  async function startComponent(name: string): Promise<string> {
    requireSupervisor();
    const c = component(name);
    const states = await supervisor.status();
    const stopped = c.programs(stack).map((p) => p.name).filter((n) => states.get(n)?.state !== 'RUNNING');
    await supervisor.start(stopped);
    await c.waitReady(stack);
    return stopped.length ? `started ${stopped.join(', ')}` : 'already running';
  }
  return {
    ensureRunning: (store) => startComponent(store),
    async stopService() {
      requireSupervisor();
      const names = component('numbering').programs(stack).map((p) => p.name);
      await supervisor.stop(names);
      return `stopped ${names.join(', ')}`;
    },
    startService: () => startComponent('numbering'),
    async healthChecks() {
      // The numbering path only: Postgres and monitoring play no part in serving numbers.
      const relevant = await stackStatus(stack, ['redis', 'mariadb', 'numbering', 'nginx']);
      const entry = `http://${endpointString(stack.model.canary.listen)}`;
      relevant.push({ name: 'nginx → service', ok: await httpOk(`${entry}/health/ready`), detail: `${entry}/health/ready` });
      return relevant;
    },
  };
}

/**
 * Kubernetes or Docker, from the environment: dr cannot start pods, so it checks and tells the
 * operator what to run, and waits for the service to come back.
 */
export function remotePlatform(ctx: OpsContext, opts: { serviceWaitMs: number; intervalMs?: number }): DrPlatform {
  const m = ctx.model;
  const releaseUrl = (e: Endpoint, path: string) => `http://${endpointString(e)}${path}`;
  const scale = (replicas: number | string) => `kubectl -n ${m.namespace} scale ${m.service.releases.map((r) => `deploy/${r.name}`).join(' ')} --replicas=${replicas}`;
  return {
    async ensureRunning(store) {
      const targets = store === 'redis' ? m.redis.nodes : [m.mariadb];
      const up = await Promise.all(targets.map((t) => tcpAccepts(t)));
      const down = targets.filter((_, i) => !up[i]).map(endpointString);
      if (store === 'mariadb' && down.length) throw new OpsError(`MariaDB ${down.join(', ')} does not accept connections: bring the StatefulSet back (kubectl -n ${m.namespace} get pods ${m.mariadb.name}-0) and rerun dr`);
      return down.length ? `not accepting connections: ${down.join(', ')}` : `${targets.length} accepting connections`;
    },
    async stopService() {
      const live = [];
      for (const r of m.service.releases) if (await httpOk(releaseUrl(r, '/health/live'))) live.push(r.name);
      if (live.length) throw new OpsError(`${live.join(', ')} still answer${live.length === 1 ? 's' : ''}: stop every writer before the restore (\`${scale(0)}\`), then rerun dr`);
      return 'no release answers';
    },
    async startService() {
      ctx.io.progress('service', `waiting for the releases to become ready; start them with \`${scale('<N>')}\``);
      const deadline = Date.now() + opts.serviceWaitMs;
      for (;;) {
        const ready = await Promise.all(m.service.releases.map((r) => httpOk(releaseUrl(r, '/health/ready'))));
        if (ready[0]) return `ready: ${m.service.releases.filter((_, i) => ready[i]).map((r) => r.name).join(', ')}`;
        if (Date.now() > deadline) throw new OpsError(`${m.service.releases[0].name} is not ready after ${Math.round(opts.serviceWaitMs / 1000)} s (\`${scale('<N>')}\`)`);
        await new Promise((r) => setTimeout(r, opts.intervalMs ?? 5000));
      }
    },
    async healthChecks() {
      const checks: DrCheck[] = [];
      for (const r of m.service.releases) {
        const url = releaseUrl(r, '/health/numbering');
        checks.push({ name: r.name, ok: await httpOk(url), detail: url });
      }
      const entry = releaseUrl(m.canary.listen, '/healthz');
      checks.push({ name: 'nginx', ok: await httpOk(entry), detail: entry });
      return checks;
    },
  };
}

export interface DrOptions {
  /** MariaDB dump to restore; none keeps the current data. */
  from?: string;
  /** Runs a command by its words, as `pnpm ops <argv>` would, and returns its exit code. */
  runCommand(argv: string[]): Promise<number>;
  platform: DrPlatform;
}

/** Runs the steps in order; returns every step's result (the ones after a fatal failure are `skipped`). */
export async function runDisasterRecovery(ctx: OpsContext, opts: DrOptions): Promise<DrStepResult[]> {
  const results: DrStepResult[] = [];
  let stopped = false;
  const actions: Record<DrStepName, () => Promise<Omit<DrStepResult, 'step' | 'ms'>>> = {
    async redis() {
      const started = await opts.platform.ensureRunning('redis');
      const code = await opts.runCommand(['redis', 'check']);
      // The service locks in MariaDB alone while Redis is down: recovery goes on, slower.
      return code === 0 ? { outcome: 'ok', detail: started } : { outcome: 'warning', detail: `${started}; cluster not healthy: the service will run in DB-only fallback mode until it is` };
    },
    async database() {
      return { outcome: 'ok', detail: await opts.platform.ensureRunning('mariadb') };
    },
    async restore() {
      if (!opts.from) return { outcome: 'skipped', detail: 'no --from: the current ledger is kept' };
      const stoppedService = await opts.platform.stopService();
      const code = await opts.runCommand(['restore', 'mariadb', opts.from, '--yes']);
      return code === 0 ? { outcome: 'ok', detail: `${opts.from} (${stoppedService})` } : { outcome: 'failed', detail: `restore of ${opts.from} failed; the service stays stopped` };
    },
    async integrity() {
      const code = await opts.runCommand(['integrity']);
      return code === 0 ? { outcome: 'ok', detail: 'every counter gapless and unique' } : { outcome: 'failed', detail: 'the ledger has problems (listed above); the service is not started on it' };
    },
    async service() {
      return { outcome: 'ok', detail: await opts.platform.startService() };
    },
    async health() {
      const checks = await opts.platform.healthChecks();
      for (const c of checks) ctx.io.out(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
      const failing = checks.filter((c) => !c.ok);
      return failing.length ? { outcome: 'failed', detail: `failing: ${failing.map((c) => c.name).join(', ')}` } : { outcome: 'ok', detail: `${checks.length} checks ok` };
    },
  };
  for (const [i, { step, title }] of STEPS.entries()) {
    const label = `[${i + 1}/${STEPS.length}] ${title}`;
    if (stopped) {
      results.push({ step, outcome: 'skipped', detail: 'an earlier step failed', ms: 0 });
      ctx.io.progress(label, 'skipped');
      continue;
    }
    ctx.io.progress(label, 'running');
    const t0 = Date.now();
    let result: Omit<DrStepResult, 'step' | 'ms'>;
    try {
      result = await actions[step]();
    } catch (e) {
      result = { outcome: 'failed', detail: (e as Error).message };
    }
    const ms = Date.now() - t0;
    results.push({ step, ...result, ms });
    ctx.io.progress(label, `${result.outcome} in ${(ms / 1000).toFixed(1)} s: ${result.detail}`);
    if (result.outcome === 'failed') stopped = true;
  }
  return results;
}

export function formatDrSummary(results: readonly DrStepResult[]): string {
  const width = Math.max(...results.map((r) => r.step.length));
  const rows = results.map((r) => `  ${r.step.padEnd(width)}  ${r.outcome.padEnd(7)}  ${r.ms ? `${(r.ms / 1000).toFixed(1).padStart(5)} s` : '      -'}  ${r.detail}`);
  const failed = results.find((r) => r.outcome === 'failed');
  return [`disaster recovery ${failed ? `stopped at ${failed.step}` : 'complete'}:`, ...rows].join('\n');
}

/** `dr` runs other commands by name; `lookup` gives it the command list without an import cycle. */
export function createDrCommand(lookup: () => readonly Command[]): Command {
  return {
    name: 'dr',
    summary: 'disaster recovery in order: Redis, MariaDB, restore, integrity, service, health checks',
    help: [
      '  --from FILE|latest       MariaDB backup to restore (latest: newest in the backup directory); without it the current data is kept',
      '  --service-wait 600       seconds to wait for the service to come back (Kubernetes/Docker, where dr cannot start it)',
    ].join('\n'),
    options: { from: { type: 'string' }, 'service-wait': { type: 'string' } },
    async run(ctx, args) {
      const fromArg = args.values.from as string | undefined;
      const from = fromArg === 'latest' ? latestMariaDbBackup(ctx) : fromArg;
      const serviceWaitMs = parsePositiveInt(args.values['service-wait'] as string | undefined, '--service-wait', 600) * 1000;
      if (args.positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])} (the backup goes in --from)`);
      if (from && !ctx.assumeYes && !(await ctx.io.confirm(`Restore ${from} over the ledger of ${ctx.description}? The service is stopped meanwhile.`))) {
        ctx.io.err('dr: not confirmed; nothing changed');
        return 1;
      }
      const runCommand = async (argv: string[]) => {
        const command = lookup().find((c) => argv.slice(0, c.name.split(' ').length).join(' ') === c.name);
        if (!command) throw new OpsError(`dr needs the \`${argv.join(' ')}\` command, which this build does not have`);
        return command.run(ctx, parseCommandArgs(command, argv.slice(command.name.split(' ').length)));
      };
      const platform = ctx.source === 'devstack' ? devstackPlatform(ctx) : remotePlatform(ctx, { serviceWaitMs });
      ctx.io.out(`disaster recovery on ${ctx.description}${from ? ` from ${from}` : ''}`);
      const results = await runDisasterRecovery(ctx, { ...(from ? { from } : {}), runCommand, platform });
      ctx.io.out(formatDrSummary(results));
      return results.some((r) => r.outcome === 'failed') ? 1 : 0;
    },
  };
}

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { endpointString, type PlatformConfig, type ServiceRelease } from '@numbering/blueprint';
import { Supervisor, components, defaultWorkdir, httpOk, openStack, reloadNginx, renderSupervisordConf, waitFor, type ProgramSpec, type StackContext } from '@numbering/devstack';
import { checkWeight, type Log, type WeightTarget } from './types.js';

/**
 * The devstack as a weight target: the weight is stack config persisted in `<workdir>/stack.json`
 * (validated before it is written), applied by re-rendering nginx.conf (checked with `nginx -t`) and
 * a graceful `nginx -s reload`, which measured zero failed requests under load.
 */

/** The side effects, injectable so the promote sequence can be checked without a running devstack. */
export interface DevstackOps {
  applyWeight(ctx: StackContext): Promise<void>;
  /** Restarts one release's program with its current config (new version) and waits until it is ready. */
  restartRelease(ctx: StackContext, release: ServiceRelease): Promise<void>;
}

export interface DevstackTargetOptions {
  /** Devstack directory; defaults to DEVSTACK_DIR or `<repo>/.devstack` (as `pnpm devstack`). */
  workdir?: string;
  log?: Log;
  /** Same as StackContext.extraServiceEnv: keeps a test's fault injection when promote re-renders programs. */
  extraServiceEnv?: StackContext['extraServiceEnv'];
  ops?: Partial<DevstackOps>;
  /** How long a restarted release may take to answer /health/ready. */
  readyTimeoutMs?: number;
}

/** PIDs of the processes whose parent is `pid` (Linux /proc), e.g. an nginx master's workers. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so parse after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return children;
}

/**
 * `nginx -s reload` only signals the master: for a moment the old workers (old split) still accept
 * connections. Resolves once none of the workers from before the reload is left, so that "weight
 * set" means every new request sees the new split; old workers busy with long requests may take up
 * to the proxy timeout, after which this gives up waiting (the reload itself has happened).
 */
export async function reloadNginxAndSettle(ctx: StackContext, log: Log = () => undefined, timeoutMs = 15_000): Promise<void> {
  const pidFile = ctx.model.canary.pidFile;
  const master = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
  const before = new Set(master ? childPids(master) : []);
  await reloadNginx(ctx);
  if (!master || !before.size) return;
  try {
    await waitFor('old nginx workers to finish', () => childPids(master).every((p) => !before.has(p)), { timeoutMs, intervalMs: 20 });
  } catch {
    log(`nginx reloaded; some old workers are still finishing long requests after ${timeoutMs / 1000} s`);
  }
}

/**
 * supervisord keeps each program's command and environment from when it read its config, and a plain
 * restart would bring the old version back. So: re-render the config, `reread`, `update` only this
 * program (stops it if its config changed), then `restart` (starts it either way).
 */
export function supervisorRestart(opts: { readyTimeoutMs?: number; programs?: (ctx: StackContext) => ProgramSpec[] } = {}) {
  const programs = opts.programs ?? ((ctx: StackContext) => components.flatMap((c) => c.programs(ctx)));
  return async (ctx: StackContext, release: ServiceRelease): Promise<void> => {
    const supervisor = new Supervisor(ctx.workdir);
    if (!supervisor.pid()) throw new Error(`the devstack in ${ctx.workdir} is not running (no supervisord): start it with \`pnpm devstack up\``);
    writeFileSync(supervisor.conf, renderSupervisordConf(ctx.workdir, programs(ctx)), { mode: 0o600 });
    await supervisor.ctl('reread');
    await supervisor.ctl('update', release.name);
    await supervisor.ctl('restart', release.name);
    await waitFor(`${release.name} /health/ready`, () => httpOk(`http://${endpointString(release)}/health/ready`), { timeoutMs: opts.readyTimeoutMs ?? 60_000 });
  };
}

export function devstackTarget(opts: DevstackTargetOptions = {}): WeightTarget {
  const log = opts.log ?? (() => undefined);
  const ops: DevstackOps = {
    applyWeight: (ctx) => reloadNginxAndSettle(ctx, log),
    restartRelease: supervisorRestart(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }),
    ...opts.ops,
  };
  const open = (set?: Record<string, unknown>): StackContext => ({
    ...openStack({ ...(opts.workdir ? { workdir: opts.workdir } : {}), ...(set ? { set } : {}) }),
    ...(opts.extraServiceEnv ? { extraServiceEnv: opts.extraServiceEnv } : {}),
  });
  async function setWeight(weight: number): Promise<void> {
    checkWeight(weight);
    const ctx = open({ 'canary.weight': weight });
    try {
      await ops.applyWeight(ctx);
    } catch (e) {
      throw new Error(`canary.weight=${weight} is saved in ${ctx.workdir}/stack.json but nginx did not take it (is the devstack up? \`pnpm devstack up\` applies it): ${(e as Error).message}`);
    }
    log(`weight ${weight}%: nginx reloaded (${endpointString(ctx.model.canary.listen)})`);
  }

  const getWeight = async () => open().model.canary.weight;

  return {
    name: `devstack ${resolve(opts.workdir ?? defaultWorkdir())}`,
    getWeight,
    setWeight,
    async promote() {
      const { canaryVersion, stableVersion } = open().model.config.canary;
      // While stable restarts, the canary takes all traffic and stable is only nginx's backup; then
      // the restarted stable (now the canary's version) takes everything back.
      if ((await getWeight()) !== 100) await setWeight(100);
      const ctx = open({ 'canary.stableVersion': canaryVersion });
      const stable = ctx.model.service.releases.find((r) => r.release === 'stable')!;
      log(`promote: restarting ${stable.name} as version ${canaryVersion} (was ${stableVersion})`);
      await ops.restartRelease(ctx, stable);
      await setWeight(0);
      log(`promote: done, ${stable.name} runs ${canaryVersion} and serves all traffic`);
    },
    async rollback() {
      await setWeight(0);
      log('rollback: all traffic on stable; the canary keeps running and serves nothing');
    },
    platformConfig: async (): Promise<PlatformConfig> => open().model.config,
  };
}

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, buildPlatform, parsePlatformConfig } from '@numbering/blueprint';
import { components } from './components/index.js';
import type { HealthLine, StackContext } from './components/types.js';
import { FETCH_BLOCKED_PORTS, modelPorts } from './ports.js';
import { loadOrCreateSecrets } from './secrets.js';
import { Supervisor, renderSupervisordConf } from './supervisor.js';

/**
 * The devstack: the whole platform as supervised local processes, rendered from the same blueprint
 * as the Docker and Kubernetes stacks. Its state is a directory: `stack.json` (the stack-config
 * overrides, like a Pulumi.<stack>.yaml), `secrets.json`, rendered configs, data and logs.
 */
export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
export const defaultWorkdir = () => resolve(process.env.DEVSTACK_DIR ?? join(repoRoot, '.devstack'));

export interface OpenOptions {
  workdir?: string;
  /** Config keys to set and persist before opening (`{'canary.weight': 30}`). */
  set?: Record<string, unknown>;
}

const stateFile = (workdir: string) => join(workdir, 'stack.json');

export function readStackConfig(workdir: string): Record<string, unknown> {
  return existsSync(stateFile(workdir)) ? (JSON.parse(readFileSync(stateFile(workdir), 'utf8')) as Record<string, unknown>) : {};
}

/** Builds the context from persisted state; `set` is validated before it is written, so bad input never lands. */
export function openStack(opts: OpenOptions = {}): StackContext {
  const workdir = resolve(opts.workdir ?? defaultWorkdir());
  const raw = { ...readStackConfig(workdir), ...(opts.set ?? {}) };
  const config = parsePlatformConfig({ ...raw, target: 'local' });
  const model = buildPlatform(config, { workdir });
  const blocked = modelPorts(model).filter((p) => FETCH_BLOCKED_PORTS.has(p));
  if (blocked.length) {
    throw new ConfigError([{ key: 'local.portOffset', message: `${config.local.portOffset} puts devstack ports on ${blocked.join(', ')}, which HTTP clients (fetch) refuse to connect to; choose another offset` }]);
  }
  mkdirSync(join(workdir, 'logs'), { recursive: true });
  if (opts.set) writeFileSync(stateFile(workdir), `${JSON.stringify(raw, null, 2)}\n`);
  const webhook = `http://${model.monitoring.webhook.host}:${model.monitoring.webhook.port}/telegram`;
  const secrets = loadOrCreateSecrets(join(workdir, 'secrets.json'), webhook);
  return { model, secrets, workdir, repoRoot };
}

export type Progress = (event: { component: string; step: string; elapsedMs: number }) => void;

/** Starts (or converges) every component in dependency order; data from an earlier `up` is kept. */
export async function up(ctx: StackContext, progress: Progress = () => undefined): Promise<void> {
  const t0 = Date.now();
  const say = (component: string, step: string) => progress({ component, step, elapsedMs: Date.now() - t0 });
  const supervisor = new Supervisor(ctx.workdir);
  const programs = components.flatMap((c) => c.programs(ctx));
  // supervisord refuses a config whose log directories do not exist yet (a fresh workdir).
  for (const p of programs) mkdirSync(dirname(p.logFile), { recursive: true });
  writeFileSync(supervisor.conf, renderSupervisordConf(ctx.workdir, programs), { mode: 0o600 });
  await supervisor.ensureRunning();
  for (const component of components) {
    say(component.name, 'preparing');
    await component.prepare(ctx);
    say(component.name, 'starting');
    await supervisor.start(component.programs(ctx).map((p) => p.name));
    await component.waitReady(ctx);
    if (component.initialize) {
      say(component.name, 'initializing');
      await component.initialize(ctx);
    }
    say(component.name, 'ready');
  }
}

/** Stops every program and supervisord. Data stays in the workdir for the next `up`. */
export async function down(ctx: StackContext): Promise<void> {
  await new Supervisor(ctx.workdir).shutdown();
}

/** Health lines of every component, or only of the named ones (`['redis', 'mariadb']`). */
export async function status(ctx: StackContext, only?: readonly string[]): Promise<HealthLine[]> {
  const supervisor = new Supervisor(ctx.workdir);
  if (!supervisor.pid()) return [{ name: 'devstack', ok: false, detail: `not running (no supervisord in ${ctx.workdir})` }];
  const states = await supervisor.status();
  const lines: HealthLine[] = [];
  for (const component of components.filter((c) => !only || only.includes(c.name))) {
    const programs = component.programs(ctx);
    const notRunning = programs.filter((p) => states.get(p.name)?.state !== 'RUNNING');
    lines.push({
      name: `${component.name} processes`,
      ok: notRunning.length === 0,
      detail: notRunning.length ? `not running: ${notRunning.map((p) => `${p.name} (${states.get(p.name)?.state ?? 'unknown'})`).join(', ')}` : `${programs.length} running`,
    });
    lines.push(...(await component.health(ctx).catch((e: Error) => [{ name: component.name, ok: false, detail: e.message }])));
  }
  return lines;
}

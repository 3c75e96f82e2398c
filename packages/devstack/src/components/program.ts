import type { StartDaemonOptions } from '../process.js';
import type { ProgramSpec } from '../supervisor.js';

/**
 * A daemon spec of the test harness (`startDaemon`) as a supervisord program, so both run the very same
 * command, user and environment. Unset variables (`undefined`, meant to scrub the inherited environment)
 * cannot be expressed to supervisord and are dropped.
 */
export function programFrom(spec: StartDaemonOptions, group: string, extra: Partial<Pick<ProgramSpec, 'name' | 'stopSignal' | 'stopWaitSecs' | 'startSecs'>> = {}): ProgramSpec {
  const env = Object.fromEntries(Object.entries(spec.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  return {
    name: spec.name,
    group,
    command: spec.command,
    args: spec.args,
    logFile: spec.logFile,
    ...(spec.user ? { user: spec.user } : {}),
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    ...(Object.keys(env).length ? { env } : {}),
    ...extra,
  };
}

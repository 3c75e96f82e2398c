import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Minimal process handling for daemons the devstack and the tests start themselves. Every daemon runs
 * in the foreground as our child (so its PID is the daemon's PID), writes to its own log file, and is
 * stopped by that PID only: nothing here ever signals a process it did not start.
 */
export interface DaemonProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  alive(): boolean;
  /** Sends `signal`, waits up to `timeoutMs`, then SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartDaemonOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this system user via `setpriv` (PostgreSQL and PgBouncer refuse root); setpriv execs in place, so the PID stays the daemon's. */
  user?: string;
}

export function startDaemon(opts: StartDaemonOptions): DaemonProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  const asUser = opts.user && process.getuid?.() === 0;
  const command = asUser ? 'setpriv' : opts.command;
  const args = asUser ? [`--reuid=${opts.user}`, `--regid=${opts.user}`, '--init-groups', opts.command, ...opts.args] : opts.args;
  const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  let exitValue: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitValue = code ?? signal ?? 'unknown';
      resolve(exitValue);
    });
    child.once('error', (err) => {
      exitValue = err.message;
      resolve(exitValue);
    });
  });
  // Daemons outlive nothing: a test runner that exits leaves them to the harness' own stop().
  child.unref();
  const pid = child.pid;
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    alive: () => exitValue === undefined,
    kill(signal = 'SIGKILL') {
      if (exitValue === undefined) process.kill(pid, signal);
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (exitValue !== undefined) return;
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout' && exitValue === undefined) {
        process.kill(pid, 'SIGKILL');
        await exited;
      }
    },
  };
}

/** Polls `check` until it returns true; the error names what was awaited and for how long. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, opts: { timeoutMs?: number; intervalMs?: number; logFile?: string } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      lastError = e;
    }
    await sleep(opts.intervalMs ?? 100);
  }
  const hint = opts.logFile ? ` (see ${opts.logFile})` : '';
  const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms waiting for ${what}${cause}${hint}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell), capturing output. Never throws on a non-zero exit. */
export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; inheritEnv?: boolean; input?: string; timeoutMs?: number; timeoutSignal?: NodeJS.Signals } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = opts.inheritEnv === false ? opts.env : { ...process.env, ...opts.env };
    const child = spawn(command, args, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill(opts.timeoutSignal ?? 'SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A program that exits before reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

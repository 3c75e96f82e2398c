import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { OpsError, type OpsContext } from './context.js';
import { mariaDbCredentials, type MariaDbAccount } from './mariadb.js';

/**
 * Running the MariaDB client programs (mariadb-dump, mariadb) as one of the platform's accounts. The
 * password goes into a private option file (`--defaults-extra-file`, mode 0600 in a 0700 temp dir,
 * removed afterwards): never on the command line, where `ps` shows it to every user, and not in
 * MYSQL_PWD, which /proc/<pid>/environ shows to the same user and child processes inherit.
 */

/** An option-file value: double-quoted with the escapes the MariaDB option parser reads back (`\\`, `\"`). */
export function optionFileValue(key: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new OpsError(`the ${key} contains a control character, which a MariaDB option file cannot hold`);
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function renderClientOptions(opts: { user: string; password: string; host: string; port: number }): string {
  return ['[client]', `user=${optionFileValue('user name', opts.user)}`, `password=${optionFileValue('password', opts.password)}`, `host=${opts.host}`, `port=${opts.port}`, 'protocol=tcp', ''].join('\n');
}

/** Calls `fn` with the path of an option file for `account`; the file is gone when the promise settles. */
export async function withClientOptions<T>(ctx: OpsContext, account: MariaDbAccount, fn: (optionFile: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'ops-mariadb-'));
  try {
    const file = join(dir, 'client.cnf');
    const m = ctx.model.mariadb;
    writeFileSync(file, renderClientOptions({ ...mariaDbCredentials(ctx, account), host: m.host, port: m.port }), { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The first of `names` on PATH (`mariadb-dump`, then its old name `mysqldump`). */
export function findProgram(names: readonly string[], path = process.env.PATH ?? ''): string {
  for (const name of names) {
    for (const dir of path.split(delimiter).filter(Boolean)) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not in this directory
      }
    }
  }
  throw new OpsError(`none of ${names.join(', ')} is on PATH (install the MariaDB client, Debian package mariadb-client)`);
}

export interface Spawned {
  child: ChildProcess;
  /** Exit code (a signal counts as failure); rejects only when the program could not be started. */
  exited: Promise<{ code: number; stderr: string }>;
}

/** Starts `program`; stderr is kept (the last 16 KiB) for the error message. */
export function spawnProgram(program: string, args: readonly string[], stdin: 'ignore' | 'pipe'): Spawned {
  const child = spawn(program, args, { stdio: [stdin, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-16_384);
  });
  const exited = new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    child.once('error', (e) => reject(new OpsError(`cannot run ${program}: ${e.message}`)));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stderr: stderr.trim() }));
  });
  return { child, exited };
}

export async function programVersion(program: string): Promise<string> {
  const p = spawnProgram(program, ['--version'], 'ignore');
  let out = '';
  p.child.stdout!.setEncoding('utf8');
  p.child.stdout!.on('data', (d: string) => (out += d));
  const { code } = await p.exited;
  return code === 0 ? out.trim() : program;
}

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunResult } from '../../../devstack/src/process.js';

// The devstack depends on the blueprint, so the blueprint's tests reach its process helpers by path
// instead of a (cyclic) workspace dependency. Both packages are source-only, so this is the same code.
export { sleep, startDaemon, waitFor, type DaemonProcess, type RunResult } from '../../../devstack/src/process.js';
export { createTestbed } from '../../../devstack/src/testbed.js';

/** A fresh directory under the temp root; `cleanup` removes every directory handed out. */
export function scratch(label: string) {
  const dirs: string[] = [];
  return {
    dir(): string {
      const dir = mkdtempSync(join(process.env.DEVSTACK_TEST_ROOT ?? tmpdir(), `blueprint-${label}-`));
      dirs.push(dir);
      return dir;
    },
    cleanup(): void {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `files` (relative name -> text) under `dir`, creating parent directories. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}

/** The whole output of a tool run, for assertion messages. */
export const output = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * Runs a tool to completion, capturing its output; never throws on a non-zero exit. Unlike the
 * devstack's `run` it gives the child no stdin: writing to the stdin of a tool that exits at once
 * (`nginx -t`, `promtool`) can fail with EPIPE after the test has moved on.
 */
export function run(command: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs a program as postgres (PostgreSQL refuses root; pgbackrest must own what it writes), from `cwd`, a dir postgres may enter. */
export function runAsPostgres(cwd: string, command: string, args: string[], timeout: number): { code: number; out: string } {
  const r = spawnSync('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', command, ...args], { cwd, encoding: 'utf8', timeout, env: { PATH: process.env.PATH, LC_ALL: 'C.UTF-8' } });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

export function userIds(user: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** pgbackrest.conf as section -> key -> value; the format has no quoting, so a line split is exact, and a repeated key is an error. */
export function parsePgbackrestIni(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current = '';
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) sections[(current = section[1]!)] = {};
    else {
      const key = line.slice(0, line.indexOf('='));
      if (key in sections[current]!) throw new Error(`duplicate ${key}`);
      sections[current]![key] = line.slice(line.indexOf('=') + 1);
    }
  }
  return sections;
}

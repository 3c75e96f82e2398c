import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunResult } from '../../../devstack/src/process.js';

// The devstack depends on the blueprint, so the blueprint's tests reach its process helpers by path
// instead of a (cyclic) workspace dependency. Both packages are source-only, so this is the same code.
export { sleep, startDaemon, waitFor, type DaemonProcess, type RunResult } from '../../../devstack/src/process.js';
import { createTestbed as createDevstackTestbed, type Testbed } from '../../../devstack/src/testbed.js';

/**
 * `createTestbed` of the devstack, retried: its port-offset search draws from 1000..40000 while the
 * config accepts `local.portOffset` <= 20000, so about half the draws throw a ConfigError naming
 * `local.portOffset`. Remove the retry once the devstack bounds its search by the schema.
 */
export async function createTestbed(overrides: Record<string, unknown> = {}): Promise<Testbed> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createDevstackTestbed(overrides);
    } catch (e) {
      if (attempt >= 20 || !String((e as Error).message).includes('local.portOffset')) throw e;
    }
  }
}

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

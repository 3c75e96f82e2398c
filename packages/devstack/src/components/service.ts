import { join } from 'node:path';
import { endpointString, migrationEnvironment, serviceEnvironment } from '@numbering/blueprint';
import { run, waitFor } from '../process.js';
import { httpJson, httpOk } from './http.js';
import type { Component, StackContext } from './types.js';

const serviceDir = (ctx: StackContext) => join(ctx.repoRoot, 'services', 'numbering');

/** Applies the numbered SQL migrations as the `migrator` user (the app user cannot run DDL). */
export async function migrate(ctx: StackContext): Promise<void> {
  const r = await run(process.execPath, ['--import', 'tsx', 'src/db/migrate.ts'], { cwd: serviceDir(ctx), env: migrationEnvironment(ctx.model, ctx.secrets), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`migrations failed:\n${r.stdout}${r.stderr}`);
}

export const serviceComponent: Component = {
  name: 'numbering',
  // Runs right before the releases start, when MariaDB is already up.
  prepare: migrate,
  programs: (ctx) =>
    ctx.model.service.releases.map((release) => ({
      name: release.name,
      group: 'numbering',
      command: process.execPath,
      args: ['--import', 'tsx', 'src/server.ts'],
      cwd: serviceDir(ctx),
      env: { ...serviceEnvironment(ctx.model, release, ctx.secrets), ...(ctx.extraServiceEnv?.[release.release] ?? {}) },
      stopWaitSecs: 15,
      logFile: join(ctx.workdir, 'logs', `${release.name}.out`),
    })),
  async waitReady(ctx) {
    for (const r of ctx.model.service.releases) {
      await waitFor(`${r.name} /health/ready`, () => httpOk(`http://${endpointString(r)}/health/ready`), { timeoutMs: 60_000, logFile: join(ctx.workdir, 'logs', `${r.name}.out`) });
    }
  },
  async health(ctx) {
    return Promise.all(
      ctx.model.service.releases.map(async (r) => {
        try {
          const h = await httpJson<{ status?: string; fallback_mode?: boolean }>(`http://${endpointString(r)}/health/numbering`);
          return { name: r.name, ok: h.status === 'ok', detail: `${endpointString(r)} version ${r.version}${h.fallback_mode ? ' (DB-only fallback mode)' : ''}` };
        } catch (e) {
          return { name: r.name, ok: false, detail: (e as Error).message };
        }
      }),
    );
  },
};

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNginxConf } from '@numbering/blueprint';
import { run, waitFor } from '../process.js';
import type { Component, StackContext } from './types.js';
import { httpOk } from './http.js';

const confPath = (ctx: StackContext) => join(ctx.model.canary.prefix, 'nginx.conf');
const nginxArgs = (ctx: StackContext) => ['-p', ctx.model.canary.prefix, '-c', confPath(ctx), '-e', ctx.model.canary.errorLog];

/** Writes the rendered canary config and checks it with `nginx -t` before anything uses it. */
export async function writeNginxConf(ctx: StackContext): Promise<void> {
  const prefix = ctx.model.canary.prefix;
  for (const dir of ['logs', 'tmp']) mkdirSync(join(prefix, dir), { recursive: true });
  const file = confPath(ctx);
  const next = `${file}.next`;
  writeFileSync(next, renderNginxConf(ctx.model));
  const test = await run('nginx', ['-t', '-q', '-p', prefix, '-c', next, '-e', ctx.model.canary.errorLog]);
  if (test.code !== 0) throw new Error(`rendered nginx config is invalid, kept the old one:\n${test.stderr}`);
  renameSync(next, file);
}

/** Graceful reload: new workers take the new split, old ones finish their requests. */
export async function reloadNginx(ctx: StackContext): Promise<void> {
  await writeNginxConf(ctx);
  const r = await run('nginx', [...nginxArgs(ctx), '-s', 'reload']);
  if (r.code !== 0) throw new Error(`nginx reload failed: ${r.stderr}`);
}

export const nginxComponent: Component = {
  name: 'nginx',
  prepare: writeNginxConf,
  programs: (ctx) => [
    { name: 'nginx', group: 'nginx', command: 'nginx', args: [...nginxArgs(ctx), '-g', 'daemon off;'], stopSignal: 'QUIT', logFile: join(ctx.workdir, 'logs', 'nginx.out') },
  ],
  waitReady: (ctx) => waitFor('nginx /healthz', () => httpOk(`http://${ctx.model.canary.listen.host}:${ctx.model.canary.listen.port}/healthz`), { timeoutMs: 15_000 }),
  health: async (ctx) => {
    const { host, port } = ctx.model.canary.listen;
    const ok = await httpOk(`http://${host}:${port}/healthz`);
    return [{ name: 'nginx', ok, detail: `${host}:${port} canary weight ${ctx.model.canary.weight}%` }];
  },
};

import { mariaDbErrorLog, mariaDbGreets, mariadbdSpec, mariaDbRootSql, initializeMariaDb, prepareMariaDb } from '../daemons/mariadb.js';
import { waitFor } from '../process.js';
import { programFrom } from './program.js';
import type { Component } from './types.js';

export const mariadbComponent: Component = {
  name: 'mariadb',
  // Installs the system tables only into an empty datadir.
  prepare: (ctx) => prepareMariaDb(ctx.model),
  // A clean InnoDB shutdown flushes the buffer pool; give it time before supervisord SIGKILLs.
  programs: (ctx) => [programFrom(mariadbdSpec(ctx.model), 'mariadb', { stopWaitSecs: 60 })],
  waitReady: (ctx) =>
    waitFor(`mariadbd to accept connections on ${ctx.model.mariadb.host}:${ctx.model.mariadb.port}`, () => mariaDbGreets(ctx.model.mariadb.host, ctx.model.mariadb.port), {
      timeoutMs: 120_000,
      intervalMs: 200,
      logFile: mariaDbErrorLog(ctx.model),
    }),
  // Users, grants and database; idempotent, so every `up` converges them to the current secrets.
  initialize: (ctx) => initializeMariaDb(ctx.model, ctx.secrets),
  async health(ctx) {
    const m = ctx.model.mariadb;
    try {
      const version = (await mariaDbRootSql(ctx.model, 'SELECT VERSION();')).trim();
      return [{ name: 'mariadb', ok: true, detail: `${m.host}:${m.port} ${version}` }];
    } catch (e) {
      return [{ name: 'mariadb', ok: false, detail: (e as Error).message }];
    }
  },
};

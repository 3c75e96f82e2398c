import { etcdClientUrl, etcdHealthy, etcdSpec } from '../daemons/etcd.js';
import { appCanQuery, haproxySpec, haproxyUp, patroniSpec, pgbouncerSpec, postgresEtcdOptions, postgresHaPaths, postgresUnhealthyReason, preparePostgresHa } from '../daemons/postgres.js';
import { createPgbackrestStanza, pgbackrestHealth } from '../daemons/pgbackrest.js';
import { waitFor } from '../process.js';
import { programFrom } from './program.js';
import type { Component, StackContext } from './types.js';

async function haproxyPrimaries(ctx: StackContext): Promise<string[]> {
  return (await haproxyUp(ctx.model)).get('primary') ?? [];
}

export const postgresComponent: Component = {
  name: 'postgres',
  prepare: async (ctx) => {
    preparePostgresHa(ctx.model, ctx.secrets);
  },
  programs(ctx) {
    const etcd = postgresEtcdOptions(ctx.model);
    return [
      programFrom(etcdSpec(etcd), 'postgres', { name: 'etcd' }),
      // TERM lets Patroni stop its PostgreSQL cleanly (checkpoint) before it exits; a KILL would orphan the postmaster.
      ...ctx.model.postgres.members.map((m) => programFrom(patroniSpec(ctx.model, m), 'postgres', { stopSignal: 'TERM', stopWaitSecs: 60 })),
      programFrom(haproxySpec(ctx.model), 'postgres'),
      programFrom(pgbouncerSpec(ctx.model), 'postgres'),
    ];
  },
  async waitReady(ctx) {
    const pg = ctx.model.postgres;
    const logs = postgresHaPaths(ctx.model).logs;
    const etcdUrl = etcdClientUrl(postgresEtcdOptions(ctx.model));
    await waitFor(`etcd at ${etcdUrl}`, () => etcdHealthy(etcdUrl), { timeoutMs: 30_000, logFile: logs });
    // The first bootstrap (initdb + post-bootstrap SQL) takes a while; replicas catch up later.
    await waitFor('one PostgreSQL primary UP in HAProxy', async () => (await haproxyPrimaries(ctx)).length === 1, { timeoutMs: 180_000, intervalMs: 500, logFile: logs });
    await waitFor(`the app user through pgbouncer on ${pg.pgbouncer.host}:${pg.pgbouncer.port}`, () => appCanQuery(ctx.model, ctx.secrets, pg.pgbouncer.port), { timeoutMs: 30_000, intervalMs: 300, logFile: logs });
  },
  // Idempotent, so every `up` runs it: archive-push fails until the stanza exists.
  initialize: (ctx) => createPgbackrestStanza(ctx.model, postgresHaPaths(ctx.model).pgbackrest),
  async health(ctx) {
    const pg = ctx.model.postgres;
    const reason = await postgresUnhealthyReason(ctx.model, true).catch((e: Error) => e.message);
    const viaBouncer = await appCanQuery(ctx.model, ctx.secrets, pg.pgbouncer.port).catch(() => false);
    const primary = reason === undefined ? (await haproxyPrimaries(ctx))[0] : undefined;
    const backups = await pgbackrestHealth(ctx.model, postgresHaPaths(ctx.model).pgbackrest).catch((e: Error) => ({ ok: false, detail: e.message }));
    return [
      { name: 'postgres ha', ok: reason === undefined, detail: reason ?? `leader ${primary}, ${pg.members.length - 1} replicas streaming, HAProxy agrees` },
      { name: 'pgbouncer', ok: viaBouncer, detail: `${pg.pgbouncer.host}:${pg.pgbouncer.port} ${viaBouncer ? 'app user can query' : 'app user cannot query'}` },
      { name: 'pgbackrest', ...backups },
    ];
  },
};

import { parseDuration, parsePositiveInt, UsageError, type Command } from '../command.js';
import { OpsError, type OpsContext } from '../context.js';
import { fetchCluster, isPatroniHealthy, isPatroniLeader, planFailover, planSwitchover, postPatroni, reportCluster, type TakeoverPlan } from '../patroni.js';
import { backupPostgres, formatBackupList, parseRecoveryTarget, restorePostgresToTime, stopCommand, type RecoveryTarget } from '../pgbackrest.js';
import { README_RUNBOOK, restorePostgresInPlace } from '../pg-restore-in-place.js';

const pgStatus: Command = {
  name: 'pg status',
  summary: 'Patroni members, roles, state, timeline and replication lag (REST /cluster); exit 1 when not ok',
  async run(ctx) {
    const { cluster, config, via } = await fetchCluster(ctx);
    const report = reportCluster(cluster, config, ctx.model.postgres.members.map((m) => m.name), via.name);
    for (const line of report.lines) ctx.io.out(line);
    return report.problems.length === 0 ? 0 : 1;
  },
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls /cluster until a member other than the old leader (the candidate, if named) leads and runs. */
async function waitForNewLeader(ctx: OpsContext, plan: TakeoverPlan, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const { cluster } = await fetchCluster(ctx, 1000);
      const leader = cluster.members.find(isPatroniLeader);
      last = leader ? `${leader.name} is ${leader.role}, ${leader.state}` : 'no leader';
      if (leader && leader.name !== plan.leader && (!plan.candidate || leader.name === plan.candidate) && isPatroniHealthy(leader)) return leader.name;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(100);
  }
  throw new OpsError(`no new leader running after ${timeoutMs} ms (last seen: ${last}); see \`ops pg status\``);
}

async function takeOver(ctx: OpsContext, plan: TakeoverPlan, timeoutMs: number): Promise<number> {
  const what = plan.action === 'switchover' ? `Switch over the PostgreSQL leader from ${plan.leader} to ${plan.candidate ?? 'a replica Patroni picks'}` : `Fail over to ${plan.candidate}${plan.leader ? ` (current leader ${plan.leader} is demoted)` : ' (no leader now)'}`;
  ctx.io.out(`${what} on ${ctx.description}. Writes stop for a few seconds.`);
  if (!ctx.assumeYes && !(await ctx.io.confirm(`${what}?`))) {
    ctx.io.err('not confirmed; nothing changed');
    return 1;
  }
  // Ask the leader (it acts at once); without a leader, any member that answers.
  const { cluster } = await fetchCluster(ctx);
  const members = ctx.model.postgres.members;
  const target = members.find((m) => m.name === plan.leader) ?? members.find((m) => cluster.members.some((c) => c.name === m.name && isPatroniHealthy(c))) ?? members[0]!;
  const started = Date.now();
  const res = await postPatroni(ctx, target, `/${plan.action}`, plan.body, timeoutMs);
  const postMs = Date.now() - started;
  if (res.status !== 200) throw new OpsError(`Patroni refused the ${plan.action} (HTTP ${res.status} from ${target.name}): ${res.text}`);
  const leader = await waitForNewLeader(ctx, plan, timeoutMs);
  ctx.io.out(`${res.text}: new leader ${leader} running ${((Date.now() - started) / 1000).toFixed(2)} s after the request (Patroni answered after ${(postMs / 1000).toFixed(2)} s)`);
  return 0;
}

const timeoutOption = (args: { values: Record<string, unknown> }) => parseDuration((args.values.timeout as string | undefined) ?? '1m', '--timeout');

const pgSwitchover: Command = {
  name: 'pg switchover',
  summary: 'planned leader change through Patroni (POST /switchover); asks for confirmation unless --yes',
  help: ['  --to MEMBER         the replica to promote (default: Patroni picks a healthy one)', '  --timeout D         how long to wait for the new leader (default 1m)'].join('\n'),
  options: { to: { type: 'string' }, timeout: { type: 'string' } },
  async run(ctx, args) {
    const timeoutMs = timeoutOption(args);
    const { cluster, config } = await fetchCluster(ctx);
    return takeOver(ctx, planSwitchover(cluster, config, args.values.to as string | undefined), timeoutMs);
  },
};

const pgFailover: Command = {
  name: 'pg failover',
  summary: 'promote a named replica through Patroni (POST /failover), also without a leader; asks unless --yes',
  help: ['  --to MEMBER         the replica to promote (required)', '  --timeout D         how long to wait for the new leader (default 1m)'].join('\n'),
  options: { to: { type: 'string' }, timeout: { type: 'string' } },
  async run(ctx, args) {
    const to = args.values.to as string | undefined;
    if (!to) throw new UsageError('--to MEMBER is required: a failover promotes a replica you name');
    const timeoutMs = timeoutOption(args);
    const { cluster, config } = await fetchCluster(ctx);
    return takeOver(ctx, planFailover(cluster, config, to), timeoutMs);
  },
};

const backupPostgresCommand: Command = {
  name: 'backup postgres',
  summary: 'pgBackRest backup of the Patroni cluster (checks WAL archiving first); lists the repository',
  help: ['  --type T            full (default), diff or incr', '  --keep-full N       full backups to keep (default: repo1-retention-full of pgbackrest.conf, 2)'].join('\n'),
  options: { type: { type: 'string' }, 'keep-full': { type: 'string' } },
  async run(ctx, args) {
    const type = (args.values.type as string | undefined) ?? 'full';
    if (type !== 'full' && type !== 'diff' && type !== 'incr') throw new UsageError(`--type must be full, diff or incr, got ${JSON.stringify(type)}`);
    const keepFull = args.values['keep-full'] === undefined ? undefined : parsePositiveInt(args.values['keep-full'] as string, '--keep-full');
    const r = await backupPostgres(ctx, { type, ...(keepFull ? { keepFull } : {}) });
    if (r.createdStanza) ctx.io.out(`created the pgBackRest stanza ${r.info.name}`);
    const b = r.backup;
    ctx.io.out(`pgbackrest ${b.type} backup ${b.label} of stanza ${r.info.name} in ${(r.ms / 1000).toFixed(1)} s: database ${(b.info.size / 1024 / 1024).toFixed(1)} MiB, ${(b.info.repository.delta / 1024 / 1024).toFixed(1)} MiB stored; WAL ${b.archive.start} .. ${b.archive.stop}`);
    for (const line of formatBackupList(r.info)) ctx.io.out(line);
    return 0;
  },
};

async function restoreInPlace(ctx: OpsContext, target: RecoveryTarget, timeoutMs: number): Promise<number> {
  const r = await restorePostgresInPlace(ctx, {
    target,
    timeoutMs,
    confirm: async (plan) => {
      ctx.io.out(
        `In-place restore of the PostgreSQL cluster on ${ctx.description} (${plan.members.join(', ')}${plan.leader ? `, leader ${plan.leader}` : ', no leader now'}) to ${target.text}, from backup ${plan.backup.label}.`,
      );
      ctx.io.out('Every member stops (writes fail meanwhile); everything committed after that time is gone from the cluster. The old data directories are moved aside, not deleted.');
      if (ctx.assumeYes || (await ctx.io.confirm(`Replace the cluster's data with its state at ${target.text}?`))) return true;
      ctx.io.err('not confirmed; nothing changed');
      return false;
    },
  });
  if (!r.confirmed) return 1;
  for (const a of r.aside) ctx.io.out(`kept ${a.member}'s old data directory: ${a.to}`);
  ctx.io.out(`removed ${r.removedKeys.length} DCS key(s) (kept config); restored backup ${r.plan.backup.label} into ${r.plan.restoreInto}`);
  if (r.recovery) ctx.io.out(`recovery: ${r.recovery.stopped ?? 'reached the end of the archived WAL before any later transaction'}; promoted${r.recovery.timeline ? ` to timeline ${r.recovery.timeline}` : ''} ${(r.recovery.promotedMs / 1000).toFixed(1)} s after start`);
  ctx.io.out(`leader ${r.leader}${r.timeline ? ` on timeline ${r.timeline}` : ''}, ${r.plan.members.length - 1} replica(s) streaming, HAProxy routes to it`);
  ctx.io.out(`steps: ${r.steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(1)} s`).join('; ')}`);
  ctx.io.out(`in-place restore to ${target.text} done in ${(r.totalMs / 1000).toFixed(1)} s`);
  if (!r.check?.ok) {
    ctx.io.err(`pgbackrest check failed after the restore: ${r.check?.message}`);
    return 1;
  }
  ctx.io.out('pgbackrest check ok. Run `pnpm ops backup postgres` now: the cluster lives on a new timeline and a backup of it is the clean start for the next PITR.');
  return 0;
}

const restorePostgresCommand: Command = {
  name: 'restore postgres',
  summary: 'point-in-time restore (pgBackRest): into a new directory to inspect, or --in-place the devstack cluster itself',
  help: [
    '  --to TIME           recovery target with a zone, e.g. 2026-11-01T03:00:00Z (required)',
    '  --target-dir DIR    new data directory (default <devstack>/postgres/pitr-<time>); must be empty',
    '  --port N            port of the restored server (default: a free one)',
    '  --no-start          restore the files only',
    '  --in-place          restore the devstack\'s Patroni cluster itself to TIME: stops every member, clears the',
    '                      DCS, keeps the old data dirs as <dir>.before-restore-<time>, recovers the first member,',
    '                      lets Patroni lead it and re-clone the others; asks for confirmation unless --yes',
    '  --timeout D         how long recovery (and with --in-place each wait) may take (default 10m)',
    `Without --in-place the cluster is not touched. Other targets than the devstack: ${README_RUNBOOK}.`,
  ].join('\n'),
  options: { to: { type: 'string' }, 'target-dir': { type: 'string' }, port: { type: 'string' }, 'no-start': { type: 'boolean', default: false }, 'in-place': { type: 'boolean', default: false }, timeout: { type: 'string' } },
  async run(ctx, args) {
    const to = args.values.to as string | undefined;
    if (!to) throw new UsageError('--to TIME is required');
    const target = parseRecoveryTarget(to);
    if (target.ms > ctx.now().getTime()) throw new UsageError(`--to ${to} is in the future`);
    const timeoutMs = parseDuration((args.values.timeout as string | undefined) ?? '10m', '--timeout');
    if (args.values['in-place']) {
      const clash = ['target-dir', 'port', 'no-start'].filter((o) => args.values[o] !== undefined && args.values[o] !== false);
      if (clash.length) throw new UsageError(`--in-place restores the members' own data directories; ${clash.map((o) => `--${o}`).join(', ')} do not apply`);
      return restoreInPlace(ctx, target, timeoutMs);
    }
    const port = args.values.port === undefined ? undefined : parsePositiveInt(args.values.port as string, '--port');
    if (port !== undefined && port > 65_535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const r = await restorePostgresToTime(ctx, {
      target,
      ...(args.values['target-dir'] ? { targetDir: args.values['target-dir'] as string } : {}),
      ...(port ? { port } : {}),
      start: !args.values['no-start'],
      timeoutMs,
    });
    ctx.io.out(`restored backup ${r.backup.label} into ${r.dataDir} in ${(r.restoreMs / 1000).toFixed(1)} s, recovery target ${target.text}`);
    if (!r.server) {
      ctx.io.out('not started (--no-start): recovery runs when PostgreSQL starts on it; override port, archive_mode=off, synchronous_standby_names, hba_file as `ops restore postgres` does');
      return 0;
    }
    ctx.io.out(`standalone PostgreSQL on 127.0.0.1:${r.server.port} (not part of the Patroni cluster, archive_mode off), promoted${r.server.timeline ? ` to timeline ${r.server.timeline}` : ''} ${(r.server.promotedMs / 1000).toFixed(1)} s after start`);
    ctx.io.out(r.server.stopped ? `recovery: ${r.server.stopped}` : 'recovery: reached the end of the archived WAL before any later transaction');
    ctx.io.out(`inspect: psql -h 127.0.0.1 -p ${r.server.port} -U ${r.superuser} -d ${r.database}   (the cluster's superuser password)`);
    ctx.io.out(`stop:    ${stopCommand(ctx, r.dataDir)}   (log ${r.server.logFile})`);
    return 0;
  },
};

export const postgresCommands: Command[] = [pgStatus, pgSwitchover, pgFailover, backupPostgresCommand, restorePostgresCommand];

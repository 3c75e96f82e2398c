import type { PatroniMember, PlatformModel } from '../model.js';

/**
 * pgBackRest for the Patroni cluster: full/differential backups into a repository plus continuous
 * WAL archiving (`archive_command` = `pgbackrest archive-push`), which together allow point-in-time
 * restores. The stanza is the Patroni scope. On the devstack every member is local, so one
 * pgbackrest.conf lists all of them (pg1..pgN); a backup finds the current primary among them itself.
 */

/** Where the devstack keeps pgBackRest's files; every path absolute, as pgbackrest (running as postgres) sees it. */
export interface PgbackrestLayout {
  configFile: string;
  /** repo1-path: backups and the WAL archive. */
  repoPath: string;
  logPath: string;
  /** Per devstack, not the shared /tmp/pgbackrest: two stacks with the same stanza name must not share locks. */
  lockPath: string;
  spoolPath: string;
}

export interface PgbackrestSettings {
  /** Full backups kept (repo1-retention-full); older ones and the WAL only they need are expired after each backup. */
  retentionFull: number;
  compressType: 'lz4' | 'gz' | 'zst' | 'bz2' | 'none';
  /** Seconds `archive-push` and `check` wait for a WAL segment to reach the repository. */
  archiveTimeoutSeconds: number;
}

export const PGBACKREST_DEFAULTS: PgbackrestSettings = { retentionFull: 2, compressType: 'lz4', archiveTimeoutSeconds: 60 };

/**
 * Seconds after which PostgreSQL switches to a new WAL segment even if it is not full, so a quiet
 * cluster's last transactions reach the archive (and a PITR target) within this bound.
 */
export const ARCHIVE_TIMEOUT = '60s';

export const pgbackrestStanza = (model: PlatformModel) => model.postgres.scope;

function assertLocal(model: PlatformModel): void {
  if (model.target !== 'local') {
    // In containers each member sees only its own data dir; that needs a repository host (pg-host over TLS) per member.
    throw new Error(`pgbackrest: only the devstack (target local) has its repository and every member on one machine; target ${model.target} is not modelled`);
  }
}

/** An option value must stay on its line: pgbackrest.conf has no quoting or escapes. */
function value(key: string, text: string): string {
  if (text === '' || /[\n\r]/.test(text)) throw new Error(`pgbackrest.conf ${key}: ${JSON.stringify(text)} must be a non-empty single line`);
  return text;
}

/** pgbackrest.conf for the devstack: [global] repository and housekeeping, [<stanza>] one pgN per Patroni member. */
export function renderPgbackrestConf(model: PlatformModel, layout: PgbackrestLayout, settings: PgbackrestSettings = PGBACKREST_DEFAULTS): string {
  assertLocal(model);
  if (!Number.isInteger(settings.retentionFull) || settings.retentionFull < 1) throw new Error(`pgbackrest retentionFull: must be a positive integer, got ${settings.retentionFull}`);
  const members = model.postgres.members;
  if (members.length === 0) throw new Error('pgbackrest: the model has no Patroni member');
  const global = [
    `repo1-path=${value('repo1-path', layout.repoPath)}`,
    `repo1-retention-full=${settings.retentionFull}`,
    `log-path=${value('log-path', layout.logPath)}`,
    `lock-path=${value('lock-path', layout.lockPath)}`,
    `spool-path=${value('spool-path', layout.spoolPath)}`,
    `compress-type=${settings.compressType}`,
    `archive-timeout=${settings.archiveTimeoutSeconds}`,
    // An immediate checkpoint: the backup starts now instead of after a spread checkpoint (minutes).
    'start-fast=y',
    'log-level-console=info',
    'log-level-file=detail',
  ];
  const stanza = members.flatMap((m, i) => [
    `pg${i + 1}-path=${value(`pg${i + 1}-path`, m.dataDir)}`,
    `pg${i + 1}-port=${m.pgPort}`,
    // The socket: pgbackrest connects as the OS user postgres, which pg_hba's `local all all peer` admits without a password.
    `pg${i + 1}-socket-path=${value(`pg${i + 1}-socket-path`, m.socketDir)}`,
  ]);
  return [`# generated from the platform model (${model.target}); do not edit`, '[global]', ...global, '', `[${pgbackrestStanza(model)}]`, ...stanza, ''].join('\n');
}

/** A shell word: PostgreSQL runs archive_command through /bin/sh. */
const shellWord = (s: string) => (/^[A-Za-z0-9_./=:@%+,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/**
 * archive_command of one member. pgbackrest checks that PostgreSQL's working directory is pg1-path,
 * so each member names its own data dir (the shared config's pg1 is just the first member).
 */
export function pgbackrestArchiveCommand(model: PlatformModel, member: PatroniMember, layout: PgbackrestLayout): string {
  assertLocal(model);
  if (!model.postgres.members.some((m) => m.name === member.name)) throw new Error(`pgbackrest: ${member.name} is not a member of ${model.postgres.scope}`);
  return ['pgbackrest', `--config=${layout.configFile}`, `--stanza=${pgbackrestStanza(model)}`, `--pg1-path=${member.dataDir}`, 'archive-push', '%p'].map((w) => (w === '%p' ? w : shellWord(w))).join(' ');
}

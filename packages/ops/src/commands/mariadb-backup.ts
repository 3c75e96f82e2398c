import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parsePositiveInt, UsageError, type Command } from '../command.js';
import { OpsError } from '../context.js';
import { applyRetention, findLatestBackup, restoreMariaDbBackup, writeMariaDbBackup } from '../mariadb-backup.js';

export const DEFAULT_KEEP_DAYS = 14;
export const DEFAULT_LOCK_WAIT_SECONDS = 60;

const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`);

const backup: Command = {
  name: 'backup mariadb',
  summary: 'dump the numbering database (one snapshot, gzip, manifest) into the backup dir; drop our backups older than --keep-days',
  help: `  --keep-days N      delete this command's own backups taken more than N days ago (default ${DEFAULT_KEEP_DAYS})`,
  options: { 'keep-days': { type: 'string' } },
  async run(ctx, args) {
    const keepDays = parsePositiveInt(args.values['keep-days'] as string | undefined, '--keep-days', DEFAULT_KEEP_DAYS);
    const db = ctx.model.mariadb.config.database;
    ctx.io.progress('backup mariadb', `dumping ${db} from ${ctx.model.mariadb.host}:${ctx.model.mariadb.port} as the backup user`);
    const { path, manifestPath, manifest } = await writeMariaDbBackup(ctx);
    const out = ctx.io.out;
    out(`backup written: ${path} (${size(manifest.file.bytes)}, sha256 ${manifest.file.sha256})`);
    out(`manifest: ${manifestPath}`);
    const width = Math.max(5, ...manifest.tables.map((t) => t.name.length));
    out(`  ${'table'.padEnd(width)}  ${'rows'.padStart(9)}  checksum`);
    for (const t of manifest.tables) out(`  ${t.name.padEnd(width)}  ${String(t.rows).padStart(9)}  ${t.checksum.slice(0, 16)}`);
    out(`ledger checksum ${manifest.ledger.checksum} (${manifest.ledger.rows} rows)`);
    out(`schema version ${manifest.schemaVersion}; binlog position ${manifest.binlog ? `${manifest.binlog.file}:${manifest.binlog.position}` : 'none (binary log off)'}`);

    // Only after a good backup: a failing backup job must not also eat the older ones.
    const removed = applyRetention(ctx, keepDays, [basename(path), basename(manifestPath)]);
    if (removed.length === 0) out(`retention ${keepDays} days: nothing to remove`);
    for (const f of removed) out(`retention ${keepDays} days: removed ${f.name} (taken ${f.takenAt.toISOString()})`);
    return 0;
  },
};

const restore: Command = {
  name: 'restore mariadb',
  args: 'FILE',
  summary: 'check a backup and its manifest, then swap its tables in for the numbering tables (asks first unless --yes)',
  help: [
    '  FILE                   a .sql.gz written by `backup mariadb` (a bare name is looked up in the backup dir;',
    '                         `latest`: the newest one there)',
    `  --lock-wait-seconds N  how long the swap waits for open transactions on the tables (default ${DEFAULT_LOCK_WAIT_SECONDS})`,
  ].join('\n'),
  options: { 'lock-wait-seconds': { type: 'string' } },
  async run(ctx, args) {
    if (args.positionals.length !== 1) throw new UsageError(`expects exactly one FILE (a .sql.gz written by \`backup mariadb\`), got ${args.positionals.length}`);
    const lockWaitSeconds = parsePositiveInt(args.values['lock-wait-seconds'] as string | undefined, '--lock-wait-seconds', DEFAULT_LOCK_WAIT_SECONDS);
    const given = args.positionals[0]!;
    const inBackupDir = join(ctx.backupDir, given);
    let path = !existsSync(given) && basename(given) === given && existsSync(inBackupDir) ? inBackupDir : resolve(given);
    if (given === 'latest' && !existsSync(given)) {
      const latest = findLatestBackup(ctx);
      if (!latest) throw new OpsError(`no backup of ${ctx.model.mariadb.config.database} in ${ctx.backupDir}`);
      path = latest;
    }
    return restoreMariaDbBackup(ctx, path, { lockWaitSeconds });
  },
};

export const mariadbBackupCommands: Command[] = [backup, restore];

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type mysql from 'mysql2/promise';
import { restoreDatabaseNames } from '@numbering/blueprint';
import {
  LEDGER_TABLE,
  MANIFEST_FORMAT,
  ManifestError,
  NUMBERING_TABLES,
  backupFileName,
  manifestPathOf,
  parseBackupFileName,
  parseManifest,
  renderManifest,
  selectExpired,
  type ExpiredFile,
  type Manifest,
} from './backup-manifest.js';
import { OpsError, type OpsContext } from './context.js';
import { DumpParser, scanDumpFile, type DumpSummary, type ScannedDump } from './mariadb-dump.js';
import { connectMariaDb } from './mariadb.js';
import { streamTextRows } from './mariadb-stream.js';
import { findProgram, programVersion, spawnProgram, withClientOptions } from './mariadb-tools.js';
import { TableChecksum } from './table-checksum.js';

/**
 * `ops backup mariadb` and `ops restore mariadb`: a consistent logical dump of the numbering database
 * with a manifest, retention of our own files, and a restore that checks the whole file first, loads
 * it into a staging database, and swaps it in with one atomic RENAME TABLE, so a failure at any step
 * leaves the live tables as they were.
 */

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

export interface TableState {
  rows: number;
  checksum: string;
}

/**
 * Rows and TableChecksum of `tables` in `database`, all read in one consistent snapshot (the server
 * default is READ COMMITTED, which would let allocations commit between two tables).
 */
export async function tableChecksums(conn: mysql.Connection, database: string, tables: readonly string[]): Promise<Map<string, TableState>> {
  const out = new Map<string, TableState>();
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  try {
    for (const table of tables) {
      const c = new TableChecksum();
      for await (const row of streamTextRows(conn, `SELECT * FROM ${ident(database)}.${ident(table)}`)) c.add(row);
      out.set(table, { rows: c.rows, checksum: c.digest() });
    }
  } finally {
    await conn.query('COMMIT');
  }
  return out;
}

/** Base tables of `database` (the restore swaps only tables the backup holds). */
async function baseTables(conn: mysql.Connection, database: string): Promise<string[]> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [database]);
  return rows.map((r) => String(r.name));
}

/** Problems of a dump's content as the dump itself describes it (shared by backup and restore). */
function contentProblems(summary: DumpSummary, database: string, requireNumberingTables: boolean): string[] {
  const problems: string[] = [];
  if (!summary.completed) problems.push('it does not end with mariadb-dump\'s "-- Dump completed" line: the dump did not finish');
  problems.push(...summary.errors);
  if (summary.database !== database) problems.push(summary.database ? `it is a dump of database ${summary.database}, not ${database}` : `its header names no single database (a dump of several databases?), expected ${database}`);
  if (requireNumberingTables) {
    const missing = NUMBERING_TABLES.filter((t) => !summary.tables.includes(t));
    if (missing.length) problems.push(`it lacks the numbering table${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  }
  if (summary.foreign.length) problems.push(`it has statements that act outside one database: ${summary.foreign.slice(0, 3).join(' | ')}`);
  return problems;
}

// ---------------------------------------------------------------- backup

export interface BackupResult {
  path: string;
  manifestPath: string;
  manifest: Manifest;
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Dumps `database` (default: the numbering database) as the `backup` account into ctx.backupDir.
 * The dump is written under a hidden `.partial` name and renamed only once it is complete, synced,
 * and checked; the manifest is in place before the dump appears under its final name.
 * `database` is a parameter so tests can make a well-formed backup of some other database.
 */
export async function writeMariaDbBackup(ctx: OpsContext, opts: { database?: string } = {}): Promise<BackupResult> {
  const numbering = ctx.model.mariadb.config.database;
  const database = opts.database ?? numbering;
  const dumpTool = findProgram(['mariadb-dump', 'mysqldump']);
  mkdirSync(ctx.backupDir, { recursive: true, mode: 0o700 });
  const takenAt = ctx.now();
  const name = backupFileName(database, takenAt);
  const path = join(ctx.backupDir, name);
  const manifestPath = manifestPathOf(path);
  if (existsSync(path)) throw new OpsError(`${path} already exists`);
  const partial = join(ctx.backupDir, `.${name}.partial`);

  const conn = await connectMariaDb(ctx, 'backup');
  let server: { logBin: boolean; version: string };
  try {
    const [[row]] = await conn.query<mysql.RowDataPacket[]>('SELECT @@log_bin AS logBin, VERSION() AS version');
    server = { logBin: Number(row?.logBin) === 1, version: String(row?.version) };
  } finally {
    await conn.end().catch(() => undefined);
  }

  let schemaVersion = 0;
  const parser = new DumpParser({
    onRow: (table, values) => {
      if (table === 'schema_migrations') schemaVersion = Math.max(schemaVersion, Number(values[0]) || 0);
    },
  });
  const decoder = new StringDecoder('utf8');
  const hash = createHash('sha256');
  let bytes = 0;

  let summary: DumpSummary;
  try {
    await withClientOptions(ctx, 'backup', async (optionFile) => {
      const args = [
        `--defaults-extra-file=${optionFile}`,
        // One REPEATABLE READ snapshot for all tables, without locking the service out.
        '--single-transaction',
        '--quick',
        // The binlog position of that snapshot, as a comment: where a point-in-time recovery continues.
        ...(server.logBin ? ['--master-data=2'] : []),
        '--default-character-set=utf8mb4',
        // No CREATE DATABASE / USE: the restore loads the dump into a staging database of its choosing.
        database,
      ];
      const dump = spawnProgram(dumpTool, args, 'ignore');
      const parse = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          parser.feed(decoder.write(chunk));
          done(null, chunk);
        },
      });
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      const file: Writable = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
      const [written, exit] = await Promise.allSettled([pipeline(dump.child.stdout!, parse, createGzip({ level: 6 }), count, file), dump.exited]);
      if (exit.status === 'rejected') throw exit.reason;
      // A failed write kills the dump (EPIPE): report the cause, not the dump's exit.
      if (written.status === 'rejected') throw new OpsError(`writing ${partial} failed: ${(written.reason as Error).message}`);
      if (exit.value.code !== 0) throw new OpsError(`${basename(dumpTool)} failed (exit ${exit.value.code}): ${exit.value.stderr || 'no message'}`);
    });
    parser.feed(decoder.end());
    summary = parser.end();
    const problems = contentProblems(summary, database, database === numbering);
    if (problems.length) throw new OpsError(`the dump of ${database} is not usable: ${problems.join('; ')}`);
    await fsyncPath(partial);
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  }

  const tables = summary.tables.map((t) => ({ name: t, ...summary.data.get(t)! }));
  const ledger = summary.data.get(LEDGER_TABLE) ?? { rows: 0, checksum: new TableChecksum().digest() };
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    database,
    createdAt: takenAt.toISOString(),
    source: ctx.description,
    server: { host: ctx.model.mariadb.host, port: ctx.model.mariadb.port, version: summary.serverVersion ?? server.version },
    tool: await programVersion(dumpTool),
    binlog: summary.binlog ?? null,
    schemaVersion,
    tables,
    ledger,
    file: { name, bytes, sha256: hash.digest('hex') },
  };
  const manifestPartial = join(ctx.backupDir, `.${basename(manifestPath)}.partial`);
  try {
    writeFileSync(manifestPartial, renderManifest(manifest), { mode: 0o600, flag: 'wx' });
    await fsyncPath(manifestPartial);
    renameSync(manifestPartial, manifestPath);
    renameSync(partial, path);
    await fsyncPath(dirname(path));
  } catch (e) {
    rmSync(manifestPartial, { force: true });
    rmSync(partial, { force: true });
    throw new OpsError(`finishing the backup in ${ctx.backupDir} failed: ${(e as Error).message}`);
  }
  return { path, manifestPath, manifest };
}

/** Deletes our own backup files older than `keepDays` (never `keep`); returns what was removed. */
export function applyRetention(ctx: OpsContext, keepDays: number, keep: readonly string[] = []): ExpiredFile[] {
  if (!existsSync(ctx.backupDir)) return [];
  const expired = selectExpired(readdirSync(ctx.backupDir), { database: ctx.model.mariadb.config.database, now: ctx.now(), keepDays, keep });
  for (const f of expired) rmSync(join(ctx.backupDir, f.name), { force: true });
  return expired;
}

/** The newest of our own complete dumps in the backup directory (by the time in its name), if any. */
export function findLatestBackup(ctx: OpsContext): string | undefined {
  if (!existsSync(ctx.backupDir)) return undefined;
  const database = ctx.model.mariadb.config.database;
  const dumps = readdirSync(ctx.backupDir)
    .map((name) => ({ name, parsed: parseBackupFileName(name, database) }))
    .filter((f) => f.parsed?.kind === 'dump')
    .sort((a, b) => b.parsed!.takenAt.getTime() - a.parsed!.takenAt.getTime());
  return dumps[0] && join(ctx.backupDir, dumps[0].name);
}

// ---------------------------------------------------------------- validation

export interface ValidBackup {
  path: string;
  manifest: Manifest;
  scan: ScannedDump;
}

/**
 * Checks a backup without touching any database: its manifest, the file's size and SHA-256, that the
 * gzip stream is complete, that the dump finished, that it is a dump of `database` with the numbering
 * tables and nothing that reaches outside one database, and that every table's rows and checksum in
 * the file are what the manifest recorded. Throws an OpsError that lists every problem found.
 */
export async function validateMariaDbBackup(path: string, database: string): Promise<ValidBackup> {
  if (!existsSync(path)) throw new OpsError(`${path}: no such file`);
  const manifestPath = manifestPathOf(path);
  if (!existsSync(manifestPath)) {
    throw new OpsError(`refusing ${path}: it has no manifest ${basename(manifestPath)} beside it, so nothing says what it is; only dumps written by \`ops backup mariadb\` (with their manifest) are restored`);
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    if (e instanceof ManifestError) throw new OpsError(`refusing ${path}: ${basename(manifestPath)} is not a manifest of \`ops backup mariadb\`: ${e.message}`);
    throw e;
  }

  const scan = await scanDumpFile(path);
  const problems: string[] = [];
  if (manifest.database !== database) problems.push(`its manifest says it is a backup of database ${manifest.database}, not ${database}`);
  if (scan.bytes !== manifest.file.bytes) problems.push(`the file has ${scan.bytes} bytes, its manifest says ${manifest.file.bytes}${scan.bytes < manifest.file.bytes ? ' (truncated)' : ''}`);
  if (scan.sha256 !== manifest.file.sha256) problems.push(`its SHA-256 ${scan.sha256.slice(0, 16)}… differs from the manifest's ${manifest.file.sha256.slice(0, 16)}… (the file was altered, truncated or replaced)`);
  if (scan.gzipError) problems.push(`gzip: ${scan.gzipError} (the file is truncated or corrupt)`);
  // With a broken gzip stream the content checks below only repeat that the file is cut short.
  if (!scan.gzipError) {
    problems.push(...contentProblems(scan.summary, database, true));
    const inFile = scan.summary.data;
    const listed = new Set(manifest.tables.map((t) => t.name));
    for (const t of manifest.tables) {
      const actual = inFile.get(t.name);
      if (!actual) problems.push(`table ${t.name} is in the manifest but not in the dump`);
      else if (actual.rows !== t.rows || actual.checksum !== t.checksum) problems.push(`table ${t.name}: the dump holds ${actual.rows} rows (checksum ${actual.checksum.slice(0, 12)}), the manifest ${t.rows} (${t.checksum.slice(0, 12)})`);
    }
    for (const t of scan.summary.tables) if (!listed.has(t)) problems.push(`table ${t} is in the dump but not in the manifest`);
  }
  if (problems.length) throw new OpsError(`refusing to restore ${path}; it is not an intact backup of ${database}:\n  - ${problems.join('\n  - ')}`);
  return { path, manifest, scan };
}

// ---------------------------------------------------------------- restore

/** The staging database a restore loads into, and where the tables it replaced are kept (until the next restore). */
export function restoreDatabases(database: string): { staging: string; previous: string } {
  const [staging, previous] = restoreDatabaseNames(database);
  const names = { staging, previous };
  if (names.previous.length > 64) throw new OpsError(`database name ${database} is too long to derive ${names.previous} (64 characters at most)`);
  return names;
}

async function loadDump(ctx: OpsContext, path: string, database: string): Promise<void> {
  const client = findProgram(['mariadb', 'mysql']);
  await withClientOptions(ctx, 'migrator', async (optionFile) => {
    const load = spawnProgram(client, [`--defaults-extra-file=${optionFile}`, `--database=${database}`, '--batch', '--default-character-set=utf8mb4'], 'pipe');
    const [fed, exit] = await Promise.allSettled([pipeline(createReadStream(path), createGunzip(), load.child.stdin!), load.exited]);
    if (exit.status === 'rejected') throw exit.reason;
    if (exit.value.code !== 0) throw new OpsError(`loading the dump into ${database} failed (${basename(client)} exit ${exit.value.code}): ${exit.value.stderr || 'no message'}`);
    if (fed.status === 'rejected') throw new OpsError(`feeding the dump to ${basename(client)} failed: ${(fed.reason as Error).message}`);
  });
}

export interface TableComparison {
  name: string;
  expected: TableState;
  actual?: TableState;
  ok: boolean;
}

export function compareTables(manifest: Manifest, actual: Map<string, TableState>): TableComparison[] {
  return manifest.tables.map((t) => {
    const a = actual.get(t.name);
    return { name: t.name, expected: { rows: t.rows, checksum: t.checksum }, ...(a ? { actual: a } : {}), ok: a !== undefined && a.rows === t.rows && a.checksum === t.checksum };
  });
}

export function formatComparison(rows: readonly TableComparison[]): string[] {
  const width = Math.max(5, ...rows.map((r) => r.name.length));
  const lines = [`  ${'table'.padEnd(width)}  ${'rows'.padStart(9)}  checksum          backup`];
  for (const r of rows) {
    const a = r.actual;
    const verdict = r.ok ? 'same' : a ? `DIFFERS (backup: ${r.expected.rows} rows, ${r.expected.checksum.slice(0, 16)})` : 'MISSING';
    lines.push(`  ${r.name.padEnd(width)}  ${String(a?.rows ?? '-').padStart(9)}  ${(a?.checksum ?? '-').slice(0, 16).padEnd(16)}  ${verdict}`);
  }
  return lines;
}

export interface RestoreOptions {
  /** Seconds the RENAME waits for the service's open transactions on the tables (lock_wait_timeout). */
  lockWaitSeconds: number;
}

/**
 * Restores a backup written by writeMariaDbBackup. Returns the exit code: 0 when the live tables
 * match the manifest afterwards, 1 when the user declined or they do not match. Throws an OpsError
 * (the live tables unchanged) when the file is refused or a step before the swap fails.
 */
export async function restoreMariaDbBackup(ctx: OpsContext, path: string, opts: RestoreOptions): Promise<number> {
  const io = ctx.io;
  const database = ctx.model.mariadb.config.database;
  const { staging, previous } = restoreDatabases(database);

  io.progress('checking the backup', path);
  const { manifest } = await validateMariaDbBackup(path, database);
  io.out(`${path}: intact backup of ${manifest.database} taken ${manifest.createdAt} (${manifest.source}), schema version ${manifest.schemaVersion}`);
  io.out(`  ${manifest.tables.length} tables; ledger ${manifest.ledger.rows} rows, checksum ${manifest.ledger.checksum}`);

  const target = `${database} on ${ctx.model.mariadb.host}:${ctx.model.mariadb.port} (${ctx.description})`;
  if (!ctx.assumeYes && !(await io.confirm(`Replace the tables of ${target} with this backup? The current tables are kept in ${previous}.`))) {
    io.err('restore cancelled; nothing was changed');
    return 1;
  }

  const conn = await connectMariaDb(ctx, 'migrator');
  try {
    const tables = manifest.tables.map((t) => t.name);
    let untouched: string[] = [];
    try {
      io.progress('loading into the staging database', staging);
      await conn.query(`DROP DATABASE IF EXISTS ${ident(staging)}`);
      await conn.query(`CREATE DATABASE ${ident(staging)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      await loadDump(ctx, path, staging);

      io.progress('checking the staging tables against the manifest');
      const staged = compareTables(manifest, await tableChecksums(conn, staging, tables));
      if (staged.some((r) => !r.ok)) throw new OpsError(`the tables loaded into ${staging} do not match the manifest:\n${formatComparison(staged).join('\n')}`);

      io.progress('swapping the restored tables in', `one RENAME TABLE; the current ones go to ${previous}`);
      const live = await baseTables(conn, database);
      untouched = live.filter((t) => !tables.includes(t));
      await conn.query(`DROP DATABASE IF EXISTS ${ident(previous)}`);
      await conn.query(`CREATE DATABASE ${ident(previous)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      await conn.query(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(opts.lockWaitSeconds))}`);
      // Every current table moves out before its replacement moves in: InnoDB names foreign keys per
      // database, so the staging tables' constraints can only take the names the old tables give up.
      const moves = [
        ...live.filter((t) => tables.includes(t)).map((t) => `${ident(database)}.${ident(t)} TO ${ident(previous)}.${ident(t)}`),
        ...tables.map((t) => `${ident(staging)}.${ident(t)} TO ${ident(database)}.${ident(t)}`),
      ];
      await conn.query(`RENAME TABLE ${moves.join(', ')}`);
    } catch (e) {
      await conn.query(`DROP DATABASE IF EXISTS ${ident(staging)}`).catch(() => undefined);
      const message = e instanceof OpsError ? e.message : (e as Error).message;
      throw new OpsError(`restore failed, the tables of ${database} were not changed: ${message}`);
    }
    await conn.query(`DROP DATABASE IF EXISTS ${ident(staging)}`);
    if (untouched.length) io.err(`note: ${untouched.join(', ')} ${untouched.length > 1 ? 'are' : 'is'} not in the backup and stayed as ${untouched.length > 1 ? 'they were' : 'it was'}`);

    io.progress('checking the restored tables');
    const restored = compareTables(manifest, await tableChecksums(conn, database, tables));
    io.out(`restored ${database} from ${basename(path)}; the tables it replaced are in ${previous} until the next restore`);
    for (const line of formatComparison(restored)) io.out(line);
    const ledger = restored.find((r) => r.name === LEDGER_TABLE);
    io.out(`ledger checksum ${ledger?.actual?.checksum ?? '-'} (${ledger?.actual?.rows ?? 0} rows): ${ledger?.ok ? 'same as the backup' : 'DIFFERS from the backup'}`);
    if (restored.some((r) => !r.ok)) {
      io.err('the restored tables differ from the backup: did the service write to them after the swap? Stop the service during a restore.');
      return 1;
    }
    return 0;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

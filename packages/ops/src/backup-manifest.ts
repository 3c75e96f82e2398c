import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

/**
 * What `ops backup mariadb` writes next to each dump (`<dump>.manifest.json`), so that a restore can
 * tell a complete, unaltered dump of the numbering database from a truncated, corrupt or foreign file
 * before it touches the database, and check the restored tables against it afterwards. Also the
 * naming of backup files and the retention rule (only our own files, by the time in their name).
 */

export const MANIFEST_FORMAT = 'numbering-mariadb-backup/1';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

const TableEntry = Type.Object({
  name: Type.String({ minLength: 1 }),
  rows: Type.Integer({ minimum: 0 }),
  /** TableChecksum of the table's rows. */
  checksum: Sha256,
});

export const ManifestSchema = Type.Object({
  format: Type.Literal(MANIFEST_FORMAT),
  database: Type.String({ minLength: 1 }),
  /** ISO time the dump started. */
  createdAt: Type.String({ minLength: 1 }),
  /** Where it was taken (`devstack /path`, `environment (kubernetes)`). */
  source: Type.String(),
  server: Type.Object({ host: Type.String(), port: Type.Integer(), version: Type.String() }),
  /** `mariadb-dump --version`. */
  tool: Type.String(),
  /** Binary log position of the dump's snapshot: where a point-in-time recovery replays from. */
  binlog: Type.Union([Type.Object({ file: Type.String({ minLength: 1 }), position: Type.Integer({ minimum: 0 }) }), Type.Null()]),
  /** Highest applied migration (schema_migrations) in the dump; 0 when it has none. */
  schemaVersion: Type.Integer({ minimum: 0 }),
  tables: Type.Array(TableEntry),
  /** The `numbers` table (the ledger) again, for messages. */
  ledger: Type.Object({ rows: Type.Integer({ minimum: 0 }), checksum: Sha256 }),
  file: Type.Object({ name: Type.String({ minLength: 1 }), bytes: Type.Integer({ minimum: 0 }), sha256: Sha256 }),
});
export type Manifest = Static<typeof ManifestSchema>;

/** The tables every dump of the numbering database must have (migrations 001 and the migrator's own). */
export const NUMBERING_TABLES = ['templates', 'counters', 'numbers', 'audit_log', 'schema_migrations'] as const;
export const LEDGER_TABLE = 'numbers';

export const manifestPathOf = (dumpPath: string) => `${dumpPath}.manifest.json`;

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`not JSON (${(e as Error).message})`);
  }
  // Another tool's JSON fails every field; its format alone says what is wrong.
  const format = (raw as { format?: unknown } | null)?.format;
  if (format !== MANIFEST_FORMAT) throw new ManifestError(`its format is ${JSON.stringify(format ?? null)}, not ${JSON.stringify(MANIFEST_FORMAT)}`);
  const problems = [...Value.Errors(ManifestSchema, raw)].slice(0, 5).map((e) => `${e.instancePath || '/'}: ${e.message}`);
  if (problems.length) throw new ManifestError(problems.join('; '));
  return raw as Manifest;
}

export const renderManifest = (m: Manifest) => `${JSON.stringify(m, null, 2)}\n`;

/** `20261123T125744.950Z`: sorts as time, no characters a shell or an object store would mind. */
export function backupStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

export function backupFileName(database: string, at: Date): string {
  return `${database}-mariadb-${backupStamp(at)}.sql.gz`;
}

const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/;

function parseStamp(stamp: string): Date | undefined {
  const m = STAMP.exec(stamp);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as [number, number, number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  return backupStamp(at) === stamp ? at : undefined;
}

export type BackupFileKind = 'dump' | 'manifest' | 'partial';

/**
 * One of our own files for `database`: the dump, its manifest, or a `.partial` a backup was writing
 * (left behind when it died). Anything else in the directory is not ours and is never touched.
 */
export function parseBackupFileName(name: string, database: string): { takenAt: Date; kind: BackupFileKind } | undefined {
  const escaped = database.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^(\\.)?${escaped}-mariadb-([0-9T.Z]+)\\.sql\\.gz(\\.manifest\\.json)?(\\.partial)?$`).exec(name);
  if (!m) return undefined;
  const [, dot, stamp, manifest, partial] = m;
  // A partial is hidden (leading dot) and a finished file is not; other combinations are not ours.
  if (Boolean(dot) !== Boolean(partial)) return undefined;
  const takenAt = parseStamp(stamp!);
  if (!takenAt) return undefined;
  return { takenAt, kind: partial ? 'partial' : manifest ? 'manifest' : 'dump' };
}

export interface ExpiredFile {
  name: string;
  takenAt: Date;
  kind: BackupFileKind;
}

/** Our own files (see parseBackupFileName) taken more than `keepDays` days before `now`, oldest first; `keep` names are never selected. */
export function selectExpired(names: readonly string[], opts: { database: string; now: Date; keepDays: number; keep?: readonly string[] }): ExpiredFile[] {
  const cutoff = opts.now.getTime() - opts.keepDays * 86_400_000;
  const keep = new Set(opts.keep ?? []);
  return names
    .flatMap((name) => {
      const parsed = parseBackupFileName(name, opts.database);
      return parsed && parsed.takenAt.getTime() < cutoff && !keep.has(name) ? [{ name, ...parsed }] : [];
    })
    .sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || a.name.localeCompare(b.name));
}

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { EnvError, loadMigrationEnv, type MigrationEnv } from '../config.js';

/**
 * Applies the numbered SQL files in migrations/ (`001_name.sql`, ...) in order, as the `migrator`
 * user, and records each in `schema_migrations` with a checksum. Re-running is a no-op; an applied
 * file that was edited afterwards is an error, because the database no longer matches it.
 * Runs as `tsx src/db/migrate.ts` or `node dist/db/migrate.js`.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** migrations/ sits next to src/ and dist/. */
export const defaultMigrationsDir = () => join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

export function loadMigrations(dir = defaultMigrationsDir()): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = /^(\d{3,})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) throw new Error(`migration file ${file} must be named NNN_snake_case.sql`);
      const sql = readFileSync(join(dir, file), 'utf8');
      return { version: Number(match[1]), name: match[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 1, 2, 3, ... without gaps; found ${String(m.version).padStart(3, '0')}_${m.name} at position ${i + 1}`);
  });
  return migrations;
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

export async function migrate(env: MigrationEnv, migrations = loadMigrations(), log: (line: string) => void = () => {}): Promise<MigrationResult> {
  const conn = await mysql.createConnection({
    host: env.DB_HOST,
    port: env.DB_PORT,
    user: env.DB_USER,
    password: env.DB_PASSWORD,
    database: env.DB_NAME,
    multipleStatements: true,
    connectTimeout: 10_000,
  });
  try {
    // Two deployments migrating at once would race on DDL; a named lock serialises them.
    const [[lock]] = await conn.query<mysql.RowDataPacket[]>("SELECT GET_LOCK('numbering.migrations', 120) AS got");
    if (lock?.got !== 1) throw new Error('could not get the migration lock within 120 s (another migration running?)');
    await conn.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(200) NOT NULL,
      checksum CHAR(64) NOT NULL,
      applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
    const done = new Map(rows.map((r) => [Number(r.version), r as { name: string; checksum: string }]));
    for (const version of done.keys()) {
      if (!migrations.some((m) => m.version === version)) throw new Error(`the database has migration ${version}, which this build does not know: is this build older than the schema?`);
    }
    const result: MigrationResult = { applied: [], skipped: [] };
    for (const m of migrations) {
      const label = `${String(m.version).padStart(3, '0')}_${m.name}`;
      const previous = done.get(m.version);
      if (previous) {
        if (previous.checksum !== m.checksum) throw new Error(`migration ${label} was changed after it was applied (checksum differs); add a new migration instead`);
        result.skipped.push(label);
        continue;
      }
      const started = Date.now();
      await conn.query(m.sql);
      await conn.query('INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)', [m.version, m.name, m.checksum]);
      result.applied.push(label);
      log(`applied ${label} in ${Date.now() - started} ms`);
    }
    await conn.query("SELECT RELEASE_LOCK('numbering.migrations')");
    return result;
  } finally {
    await conn.end().catch(() => {});
  }
}

/** Highest migration this build ships: /health/ready waits for the database to have it. */
export const expectedSchemaVersion = (migrations = loadMigrations()) => migrations.at(-1)?.version ?? 0;

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  try {
    const env = loadMigrationEnv();
    const result = await migrate(env, loadMigrations(), (line) => console.log(line));
    console.log(`migrations: ${result.applied.length} applied, ${result.skipped.length} already applied`);
  } catch (e) {
    console.error(e instanceof EnvError ? e.message : `migration failed: ${(e as Error).message}`);
    process.exit(1);
  }
}

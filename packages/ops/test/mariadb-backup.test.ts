import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, exampleSecrets } from '@numbering/blueprint';
import { MANIFEST_FORMAT, manifestPathOf, renderManifest, type Manifest } from '../src/backup-manifest.js';
import { contextFrom, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { validateMariaDbBackup } from '../src/mariadb-backup.js';
import { scanDumpFile } from '../src/mariadb-dump.js';

/**
 * The checks a restore makes before it touches the database, on files made here (no server): the
 * integration test runs the same refusals against real dumps and a real MariaDB.
 */

const dir = mkdtempSync(join(tmpdir(), 'ops-backup-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dumpText(database: string, tables: string[], opts: { completed?: boolean; extra?: string } = {}): string {
  const lines = [`-- MariaDB dump 10.19`, `-- Host: 127.0.0.1    Database: ${database}`, `-- Server version\t10.11.19-MariaDB`, opts.extra ?? ''];
  for (const t of tables) {
    lines.push(`CREATE TABLE \`${t}\` (\`id\` int) ENGINE=InnoDB;`, `INSERT INTO \`${t}\` VALUES`, `(1,'${t} one'),`, `(2,'it''s \\n two');`);
  }
  if (opts.completed ?? true) lines.push('', '-- Dump completed on 2026-11-23 12:57:45');
  return `${lines.join('\n')}\n`;
}

const NUMBERING = ['audit_log', 'counters', 'numbers', 'schema_migrations', 'templates'];
let seq = 0;

/** A gzip dump with a manifest that describes it faithfully (as `backup mariadb` would write). */
async function backupFile(text: string, database = 'numbering'): Promise<{ path: string; manifest: Manifest }> {
  const path = join(dir, `${database}-mariadb-2026112${seq++}T120000.000Z.sql.gz`);
  writeFileSync(path, gzipSync(Buffer.from(text)));
  const scan = await scanDumpFile(path);
  const tables = scan.summary.tables.map((name) => ({ name, ...scan.summary.data.get(name)! }));
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    database,
    createdAt: '2026-11-23T12:00:00.000Z',
    source: 'test',
    server: { host: '127.0.0.1', port: 3306, version: '10.11.19-MariaDB' },
    tool: 'mariadb-dump',
    binlog: null,
    schemaVersion: 2,
    tables,
    ledger: scan.summary.data.get('numbers') ?? tables[0]!,
    file: { name: path.split('/').at(-1)!, bytes: scan.bytes, sha256: scan.sha256 },
  };
  writeFileSync(manifestPathOf(path), renderManifest(manifest));
  return { path, manifest };
}

async function refusal(path: string, database = 'numbering'): Promise<string> {
  try {
    await validateMariaDbBackup(path, database);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${path} was accepted`);
}

describe('validateMariaDbBackup', () => {
  it('accepts an intact dump of the numbering database with its manifest', async () => {
    const { path, manifest } = await backupFile(dumpText('numbering', NUMBERING));
    const valid = await validateMariaDbBackup(path, 'numbering');
    expect(valid.manifest).toEqual(manifest);
    expect(valid.scan.summary.data.get('numbers')?.rows).toBe(2);
  });

  it('refuses a truncated copy, naming the truncation', async () => {
    const { path } = await backupFile(dumpText('numbering', NUMBERING));
    const bytes = readFileSync(path);
    const cut = join(dir, 'numbering-mariadb-20261124T000000.000Z.sql.gz');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    writeFileSync(manifestPathOf(cut), readFileSync(manifestPathOf(path)));
    const message = await refusal(cut);
    expect(message).toContain(`refusing to restore ${cut}`);
    expect(message).toMatch(/the file has \d+ bytes, its manifest says \d+ \(truncated\)/);
    expect(message).toContain('gzip: unexpected end of file (the file is truncated or corrupt)');
  });

  it('refuses a file with one byte changed (checksum, and gzip CRC or content)', async () => {
    const { path } = await backupFile(dumpText('numbering', NUMBERING));
    const bytes = Buffer.from(readFileSync(path));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(path, bytes);
    expect(await refusal(path)).toMatch(/SHA-256 [0-9a-f]{16}… differs from the manifest's/);
  });

  it('refuses a dump without a manifest, or with a manifest that is not ours', async () => {
    const { path } = await backupFile(dumpText('numbering', NUMBERING));
    writeFileSync(manifestPathOf(path), '{"format":"something-else"}');
    expect(await refusal(path)).toContain('is not a manifest of `ops backup mariadb`: its format is "something-else", not "numbering-mariadb-backup/1"');
    rmSync(manifestPathOf(path));
    expect(await refusal(path)).toContain('it has no manifest');
  });

  it('refuses a well-formed backup of another database', async () => {
    const { path } = await backupFile(dumpText('shop', ['orders', 'customers']), 'shop');
    const message = await refusal(path);
    expect(message).toContain('its manifest says it is a backup of database shop, not numbering');
    expect(message).toContain('it is a dump of database shop, not numbering');
    expect(message).toContain('it lacks the numbering tables templates, counters, numbers, audit_log, schema_migrations');
  });

  it('refuses a dump that did not finish, one that reaches outside its database, and rows that differ from the manifest', async () => {
    expect(await refusal((await backupFile(dumpText('numbering', NUMBERING, { completed: false }))).path)).toContain('the dump did not finish');
    expect(await refusal((await backupFile(dumpText('numbering', NUMBERING, { extra: 'USE `mysql`;' }))).path)).toContain('statements that act outside one database: USE `mysql`;');
    const { path, manifest } = await backupFile(dumpText('numbering', NUMBERING));
    const numbers = manifest.tables.find((t) => t.name === 'numbers')!;
    numbers.rows = 3;
    writeFileSync(manifestPathOf(path), renderManifest({ ...manifest, tables: [...manifest.tables.filter((t) => t.name !== 'templates')] }));
    const message = await refusal(path);
    expect(message).toMatch(/table numbers: the dump holds 2 rows \(checksum [0-9a-f]{12}\), the manifest 3/);
    expect(message).toContain('table templates is in the dump but not in the manifest');
  });
});

describe('ops backup/restore mariadb command line', () => {
  const recorder = () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: OpsIo = { out: (l) => out.push(l), err: (l) => err.push(l), confirm: async () => false, progress: () => undefined };
    return { io, out, err };
  };
  const context = (opts: { io: OpsIo; assumeYes: boolean }) => contextFrom({ model: buildPlatform(defaultPlatformConfig('local')), secrets: exampleSecrets(), backupDir: dir, ...opts });

  it('rejects a missing FILE and a bad --keep-days as usage errors (exit 2)', async () => {
    const a = recorder();
    expect(await main(['restore', 'mariadb'], a.io, { context })).toBe(2);
    expect(a.err.join('\n')).toContain('expects exactly one FILE');
    const b = recorder();
    expect(await main(['backup', 'mariadb', '--keep-days', '0'], b.io, { context })).toBe(2);
    expect(b.err.join('\n')).toContain('--keep-days must be a positive integer');
  });

  it('refuses a bad file with exit 1 before it connects to anything', async () => {
    const { path } = await backupFile(dumpText('shop', ['orders']), 'shop');
    const r = recorder();
    expect(await main(['restore', 'mariadb', path, '--yes'], r.io, { context })).toBe(1);
    expect(r.err.join('\n')).toContain('it is a dump of database shop, not numbering');
  });
});

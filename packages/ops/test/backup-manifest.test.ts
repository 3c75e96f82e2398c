import { describe, expect, it } from 'vitest';
import { backupFileName, MANIFEST_FORMAT, ManifestError, parseBackupFileName, parseManifest, renderManifest, selectExpired, type Manifest } from '../src/backup-manifest.js';

const sha = (c: string) => c.repeat(64);

export const exampleManifest = (over: Partial<Manifest> = {}): Manifest => ({
  format: MANIFEST_FORMAT,
  database: 'numbering',
  createdAt: '2026-11-23T12:00:00.000Z',
  source: 'devstack /x',
  server: { host: '127.0.0.1', port: 3306, version: '10.11.19-MariaDB' },
  tool: 'mariadb-dump Ver 10.19',
  binlog: { file: 'mariadb-bin.000001', position: 4 },
  schemaVersion: 2,
  tables: [{ name: 'numbers', rows: 3, checksum: sha('a') }],
  ledger: { rows: 3, checksum: sha('a') },
  file: { name: 'numbering-mariadb-20261123T120000.000Z.sql.gz', bytes: 10, sha256: sha('b') },
  ...over,
});

describe('backup manifest', () => {
  it('round-trips and names what is wrong with a manifest that is not ours', () => {
    const m = exampleManifest();
    expect(parseManifest(renderManifest(m))).toEqual(m);
    expect(() => parseManifest('{"format":')).toThrow(ManifestError);
    expect(() => parseManifest('{"format":')).toThrow(/not JSON/);
    expect(() => parseManifest(JSON.stringify({ ...m, format: 'pg/1' }))).toThrow('its format is "pg/1", not "numbering-mariadb-backup/1"');
    expect(() => parseManifest('[]')).toThrow('its format is null');
    expect(() => parseManifest(JSON.stringify({ ...m, file: { ...m.file, sha256: 'abc' } }))).toThrow(/\/file\/sha256/);
    const { ledger: _ledger, ...withoutLedger } = m;
    expect(() => parseManifest(JSON.stringify(withoutLedger))).toThrow(/ledger/);
  });
});

describe('backup file names and retention', () => {
  const now = new Date('2026-11-23T12:00:00.000Z');
  const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);

  it('names a backup by database and UTC time and reads that back; other names are not ours', () => {
    const name = backupFileName('numbering', new Date('2026-01-02T03:04:05.678Z'));
    expect(name).toBe('numbering-mariadb-20260102T030405.678Z.sql.gz');
    expect(parseBackupFileName(name, 'numbering')).toEqual({ takenAt: new Date('2026-01-02T03:04:05.678Z'), kind: 'dump' });
    expect(parseBackupFileName(`${name}.manifest.json`, 'numbering')?.kind).toBe('manifest');
    expect(parseBackupFileName(`.${name}.partial`, 'numbering')?.kind).toBe('partial');
    expect(parseBackupFileName(`.${name}.manifest.json.partial`, 'numbering')?.kind).toBe('partial');
    for (const foreign of [`${name}.partial`, `.${name}`, name.replace('numbering', 'shop'), 'numbering-20260102T030405Z.sql.gz', 'numbering-mariadb-20261340T000000.000Z.sql.gz', 'numbering-mariadb-x.sql.gz', 'notes.txt']) {
      expect(parseBackupFileName(foreign, 'numbering'), foreign).toBeUndefined();
    }
    expect(parseBackupFileName(name, 'numbering_x')).toBeUndefined();
  });

  it('selects only our own files older than the retention, oldest first, never the kept ones', () => {
    const old = backupFileName('numbering', daysAgo(20));
    const older = backupFileName('numbering', daysAgo(30));
    const edge = backupFileName('numbering', daysAgo(14));
    const fresh = backupFileName('numbering', daysAgo(1));
    const names = [
      fresh, `${fresh}.manifest.json`,
      old, `${old}.manifest.json`,
      older, // its manifest is gone: the dump still goes
      `.${backupFileName('numbering', daysAgo(15))}.partial`, // a dead backup's leftovers
      edge, `${edge}.manifest.json`,
      backupFileName('shop', daysAgo(90)), 'numbering-20200101T000000Z.sql.gz', 'README',
    ];
    const expired = selectExpired(names, { database: 'numbering', now, keepDays: 14 });
    expect(expired.map((e) => e.name)).toEqual([older, old, `${old}.manifest.json`, `.${backupFileName('numbering', daysAgo(15))}.partial`]);
    expect(selectExpired(names, { database: 'numbering', now, keepDays: 14, keep: [old] }).map((e) => e.name)).not.toContain(old);
    expect(selectExpired(names, { database: 'numbering', now, keepDays: 60 })).toEqual([]);
    expect(selectExpired(names, { database: 'numbering', now, keepDays: 1 }).map((e) => e.name)).toContain(edge);
  });
});

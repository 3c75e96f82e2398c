import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultMigrationsDir, loadMigrations } from '../src/db/migrate.js';
import { canonicalJson, requestHash } from '../src/domain/idempotency.js';

describe('migrations', () => {
  it('are numbered 1..n without gaps and carry checksums', () => {
    const m = loadMigrations();
    expect(m.map((x) => x.version)).toEqual(m.map((_, i) => i + 1));
    expect(m.every((x) => /^[0-9a-f]{64}$/.test(x.checksum))).toBe(true);
  });

  it('never delete or drop (the app user has SELECT, INSERT, UPDATE only; nothing is ever removed)', () => {
    for (const m of loadMigrations()) expect(m.sql).not.toMatch(/\b(DELETE|DROP|TRUNCATE)\b/i);
  });

  it('the service code issues no DELETE or DDL', () => {
    const dir = join(defaultMigrationsDir(), '..', 'src');
    const files = ['db/ledger.ts', 'db/admin.ts', 'db/reservations.ts', 'db/audit.ts', 'db/templates.ts', 'services/numbering.ts', 'services/health.ts'];
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8')).not.toMatch(/\b(DELETE FROM|DROP |TRUNCATE|ALTER TABLE|CREATE TABLE)/);
  });

  it('refuses a gap in the numbering', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mig-'));
    writeFileSync(join(dir, '001_a.sql'), 'SELECT 1;');
    writeFileSync(join(dir, '003_c.sql'), 'SELECT 1;');
    expect(() => loadMigrations(dir)).toThrow(/without gaps/);
  });
});

describe('idempotency fingerprint', () => {
  it('ignores key order but not values', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [1, { y: 1, x: 2 }] } })).toBe('{"a":{"c":[1,{"x":2,"y":1}],"d":2},"b":1}');
    expect(requestHash({ template: 'T', fields: { A: '1', B: '2' } })).toBe(requestHash({ fields: { B: '2', A: '1' }, template: 'T' }));
    expect(requestHash({ template: 'T', fields: { A: '1' } })).not.toBe(requestHash({ template: 'T', fields: { A: '2' } }));
  });
});

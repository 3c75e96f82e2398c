import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, down, mariaDbCnfPath, mariaDbRootSql, openTestbedStack, run, up, type StackContext, type Testbed } from '@numbering/devstack';
import { backupFileName, manifestPathOf, parseManifest, type Manifest } from '../src/backup-manifest.js';
import { contextFrom, type OpsContext, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { tableChecksums, writeMariaDbBackup } from '../src/mariadb-backup.js';
import { connectMariaDb } from '../src/mariadb.js';

/**
 * backup / restore / integrity on a full devstack (one `up` for every case): numbers are allocated
 * through nginx and the real service, the commands run through `main` against the devstack directory
 * (as `pnpm ops ... --devstack DIR`), damage is done as MariaDB root.
 */

let bed: Testbed;
let stack: StackContext;
let ctx: OpsContext;
let backup: { path: string; manifest: Manifest };
const allocated: { number: string; sequence: number; counterKey: string }[] = [];

interface Ran {
  code: number;
  out: string;
  err: string;
  questions: string[];
}

async function ops(argv: string[], answer = false): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const questions: string[] = [];
  const io: OpsIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    confirm: async (q) => (questions.push(q), answer),
    progress: () => undefined,
  };
  const t0 = Date.now();
  const code = await main([...argv, '--devstack', bed.workdir], io);
  console.log(`[ops] ${argv.join(' ')} → exit ${code} in ${Date.now() - t0} ms`);
  return { code, out: out.join('\n'), err: err.join('\n'), questions };
}

const root = (sql: string) => mariaDbRootSql(stack.model, sql);
const db = () => stack.model.mariadb.config.database;

async function liveLedger(): Promise<{ rows: number; checksum: string }> {
  const conn = await connectMariaDb(ctx, 'backup');
  try {
    return (await tableChecksums(conn, db(), ['numbers'])).get('numbers')!;
  } finally {
    await conn.end();
  }
}

async function allocate(originator: string): Promise<void> {
  const res = await fetch(`http://${stack.model.canary.listen.host}:${stack.model.canary.listen.port}/v1/numbers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `ops-int-${originator}-${allocated.length}-${Date.now()}` },
    body: JSON.stringify({ template: 'TRANSMITTAL', fields: { PROJECT: 'LCBP3', ORIGINATOR: originator } }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { number: string; sequence: number; counterKey: string };
  if (res.status !== 201) throw new Error(`allocation failed: ${res.status} ${JSON.stringify(body)}`);
  allocated.push(body);
}

const counterOf = (originator: string) => allocated.find((a) => a.number.includes(`-TRN-${originator}-`))!.counterKey;

beforeAll(async () => {
  // createTestbed's offset already avoids every port fetch() refuses (findFreePortOffset).
  bed = await createTestbed();
  stack = openTestbedStack(bed);
  const t0 = Date.now();
  await up(stack);
  console.log(`[ops-int] devstack up in ${Date.now() - t0} ms`);
  ctx = contextFrom({ model: stack.model, secrets: stack.secrets, workdir: bed.workdir, backupDir: join(bed.workdir, 'backups'), io: { out: () => undefined, err: () => undefined, confirm: async () => false, progress: () => undefined } });
  const t1 = Date.now();
  for (let i = 0; i < 12; i++) for (const originator of ['OPSA', 'OPSB', 'OPSC']) await allocate(originator);
  console.log(`[ops-int] ${allocated.length} numbers allocated through nginx in ${Date.now() - t1} ms`);
}, 300_000);

afterAll(async () => {
  if (stack) await down(stack);
  bed?.dispose();
}, 120_000);

describe('ops integrity on a clean ledger', () => {
  it('passes every counter the service wrote, and one counter alone', async () => {
    const all = await ops(['integrity']);
    expect(all.err).toBe('');
    expect(all.code).toBe(0);
    for (const o of ['OPSA', 'OPSB', 'OPSC']) expect(all.out).toMatch(new RegExp(`${counterOf(o).replace(/[|]/g, '\\|')}\\s+1\\s+12\\s+999999\\s+0\\.0%\\s+12\\s+ok`));
    expect(all.out).toContain(`integrity ok: 3 counters, 3 series, ${allocated.length} ledger rows`);

    const one = await ops(['integrity', '--counter', counterOf('OPSB')]);
    expect(one.code).toBe(0);
    expect(one.out).toContain('integrity ok: 1 counter, 1 series, 12 ledger rows');

    const none = await ops(['integrity', '--counter', 'NO|SUCH|COUNTER']);
    expect(none.code).toBe(1);
    expect(none.err).toContain('no counter "NO|SUCH|COUNTER"');
  });
});

describe('ops backup mariadb', () => {
  it('writes a gzip dump and manifest that match the live ledger, and prunes only its own old files', async () => {
    const dir = ctx.backupDir;
    mkdirSync(dir, { recursive: true });
    const old = backupFileName(db(), new Date('2020-01-01T00:00:00.000Z'));
    const planted = [old, `${old}.manifest.json`, `.${backupFileName(db(), new Date('2020-02-01T00:00:00.000Z'))}.partial`, 'notes.txt', backupFileName('shop', new Date('2020-01-01T00:00:00.000Z')), 'numbering-20200101T000000Z.sql.gz'];
    for (const f of planted) writeFileSync(join(dir, f), 'x');
    const optionDirsBefore = readdirSync(tmpdir()).filter((f) => f.startsWith('ops-mariadb-')).length;

    const r = await ops(['backup', 'mariadb', '--keep-days', '7']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const path = /^backup written: (\S+) /m.exec(r.out)![1]!;
    const manifest = parseManifest(readFileSync(manifestPathOf(path), 'utf8'));
    backup = { path, manifest };
    console.log(`[ops-int] backup ${basename(path)}: ${statSync(path).size} bytes, ledger ${manifest.ledger.rows} rows`);

    expect(manifest.database).toBe(db());
    expect(manifest.tables.map((t) => t.name)).toEqual(expect.arrayContaining(['templates', 'counters', 'numbers', 'audit_log', 'schema_migrations']));
    expect(manifest.ledger).toEqual(await liveLedger());
    expect(manifest.ledger.rows).toBe(allocated.length);
    expect(manifest.binlog?.file).toMatch(/bin\.\d+$/);
    expect(manifest.schemaVersion).toBeGreaterThanOrEqual(2);
    expect(manifest.file.bytes).toBe(statSync(path).size);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(r.out).toContain(`ledger checksum ${manifest.ledger.checksum} (${allocated.length} rows)`);

    // Retention: our own 2020 files (dump, manifest, a dead .partial) are gone; nothing else is.
    for (const f of planted.slice(0, 3)) expect(r.out).toContain(`retention 7 days: removed ${f}`);
    const left = readdirSync(dir);
    for (const f of planted.slice(0, 3)) expect(left).not.toContain(f);
    for (const f of planted.slice(3)) expect(left).toContain(f);
    expect(left.filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('ops-mariadb-')).length).toBe(optionDirsBefore);
  });
});

describe('ops restore mariadb', () => {
  it('asks first, and a "no" changes nothing', async () => {
    const before = await liveLedger();
    const r = await ops(['restore', 'mariadb', backup.path]);
    expect(r.code).toBe(1);
    expect(r.questions).toHaveLength(1);
    expect(r.questions[0]).toContain(`Replace the tables of ${db()} on ${stack.model.mariadb.host}:${stack.model.mariadb.port}`);
    expect(r.err).toContain('restore cancelled; nothing was changed');
    expect(await liveLedger()).toEqual(before);
  });

  it('backup, wipe, restore: the same ledger checksum, and the service numbers on from where the backup was', async () => {
    await root(`SET FOREIGN_KEY_CHECKS = 0; DROP TABLE ${db()}.numbers, ${db()}.audit_log; DELETE FROM ${db()}.counters;`);
    expect((await liveLedger().catch((e: Error) => e.message)) as string).toMatch(/doesn't exist/);

    const r = await ops(['restore', 'mariadb', basename(backup.path)], true);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(await liveLedger()).toEqual(backup.manifest.ledger);
    expect(r.out).toContain(`ledger checksum ${backup.manifest.ledger.checksum} (${backup.manifest.ledger.rows} rows): same as the backup`);
    for (const t of backup.manifest.tables) expect(r.out).toMatch(new RegExp(`^  ${t.name}\\s+${t.rows}\\s+${t.checksum.slice(0, 16)}\\s+same$`, 'm'));
    // The wiped tables are kept aside (numbers and audit_log had been dropped, so they are not there); staging is gone.
    const keptAside = backup.manifest.tables.map((t) => t.name).filter((t) => t !== 'numbers' && t !== 'audit_log');
    expect((await root(`SHOW TABLES FROM ${db()}_previous`)).split('\n').filter(Boolean).sort()).toEqual(keptAside.sort());
    expect(Number(await root(`SELECT COUNT(*) FROM ${db()}_previous.counters`))).toBe(0);
    expect(await root(`SHOW DATABASES LIKE '${db()}\\_restore'`)).toBe('');

    expect((await ops(['integrity'])).code).toBe(0);
    const last = allocated.filter((a) => a.counterKey === counterOf('OPSA')).at(-1)!;
    await allocate('OPSA');
    expect(allocated.at(-1)!.sequence).toBe(last.sequence + 1);
  });

  it('refuses a truncated copy with a clear error, before touching the database', async () => {
    const before = await liveLedger();
    const copies = join(bed.workdir, 'copies');
    mkdirSync(copies, { recursive: true });
    const cut = join(copies, basename(backup.path));
    const bytes = readFileSync(backup.path);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    copyFileSync(manifestPathOf(backup.path), manifestPathOf(cut));

    const r = await ops(['restore', 'mariadb', cut, '--yes']);
    expect(r.code).toBe(1);
    console.log(`[ops-int] truncated copy refused:\n${r.err}`);
    expect(r.err).toContain(`refusing to restore ${cut}; it is not an intact backup of ${db()}`);
    expect(r.err).toMatch(/the file has \d+ bytes, its manifest says \d+ \(truncated\)/);
    expect(r.err).toContain('gzip: unexpected end of file (the file is truncated or corrupt)');
    expect(await liveLedger()).toEqual(before);
    expect(await root(`SHOW DATABASES LIKE '${db()}\\_restore'`)).toBe('');
  });

  it('refuses a dump of another database, with or without a manifest', async () => {
    const before = await liveLedger();
    await root("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(20)); INSERT INTO shop.orders VALUES (1, 'tea'), (2, 'cake');");
    // A well-formed backup of `shop` (the backup account may read every database), manifest and all.
    const foreign = await writeMariaDbBackup(ctx, { database: 'shop' });
    const withManifest = await ops(['restore', 'mariadb', foreign.path, '--yes']);
    expect(withManifest.code).toBe(1);
    expect(withManifest.err).toContain(`its manifest says it is a backup of database shop, not ${db()}`);
    expect(withManifest.err).toContain(`it is a dump of database shop, not ${db()}`);
    expect(withManifest.err).toContain('it lacks the numbering tables templates, counters, numbers, audit_log, schema_migrations');

    // A plain mariadb-dump of it, as someone might pick up from another server.
    const dump = await run('mariadb-dump', [`--defaults-file=${mariaDbCnfPath(stack.model)}`, '--protocol=socket', '--user=root', '--single-transaction', 'shop']);
    expect(dump.code).toBe(0);
    const plain = join(bed.workdir, 'copies', 'shop.sql.gz');
    writeFileSync(plain, gzipSync(dump.stdout));
    const without = await ops(['restore', 'mariadb', plain, '--yes']);
    expect(without.code).toBe(1);
    expect(without.err).toContain('it has no manifest shop.sql.gz.manifest.json beside it');
    expect(await liveLedger()).toEqual(before);
    await root('DROP DATABASE shop');
  });

  it('a swap that cannot get its locks fails and changes nothing', async () => {
    const before = await liveLedger();
    // An open transaction on the ledger (as the service could have) holds a metadata lock RENAME must wait for.
    const holder = await connectMariaDb(ctx, 'app');
    await holder.query('START TRANSACTION');
    await holder.query('SELECT COUNT(*) FROM numbers');
    try {
      const r = await ops(['restore', 'mariadb', backup.path, '--yes', '--lock-wait-seconds', '2']);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`restore failed, the tables of ${db()} were not changed: Lock wait timeout exceeded`);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    expect(await liveLedger()).toEqual(before);
    expect(await root(`SHOW DATABASES LIKE '${db()}\\_restore'`)).toBe('');
  });
});

describe('ops integrity on a damaged ledger', () => {
  it('names the counter and sequences of an injected duplicate and an injected gap, and passes again after a restore', async () => {
    const dupKey = counterOf('OPSA');
    const gapKey = counterOf('OPSC');
    const dupNumber = allocated.find((a) => a.counterKey === dupKey && a.sequence === 4)!.number;
    // A botched manual fix: the unique keys dropped, a ledger row copied, another deleted.
    // (the foreign key on counter_key needs an index to lean on once uq_numbers_sequence is gone)
    await root(`ALTER TABLE ${db()}.numbers ADD KEY ix_fix (counter_key), DROP INDEX uq_numbers_sequence, DROP INDEX uq_numbers_number;
      INSERT INTO ${db()}.numbers (counter_key, epoch, sequence, number, template_id, state, fields, issued_by)
        SELECT counter_key, epoch, sequence, number, template_id, 'VOID', fields, 'manual-fix' FROM ${db()}.numbers WHERE counter_key = '${dupKey}' AND sequence = 4;
      DELETE FROM ${db()}.numbers WHERE counter_key = '${gapKey}' AND sequence = 7;`);

    const r = await ops(['integrity']);
    console.log(`[ops-int] integrity on the damaged ledger:\n${r.out}`);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^integrity FAILED: 3 problems in 2 counters \(.*1 duplicate-sequence.*\)/m);
    expect(r.out).toContain(`  - ${dupKey} epoch 1: duplicate-sequence: 1 sequence in the ledger more than once: 4 (2 rows)`);
    expect(r.out).toContain(`  - ${dupKey} epoch 1: duplicate-number: ${dupNumber} is held by 2 ledger rows, sequences 4, 4`);
    expect(r.out).toContain(`  - ${gapKey} epoch 1: gap: 1 sequence missing from the ledger: 7`);
    expect(r.out).toMatch(new RegExp(`^${gapKey.replace(/[|]/g, '\\|')}\\s.*1 problem$`, 'm'));

    const gapOnly = await ops(['integrity', '--counter', gapKey]);
    expect(gapOnly.code).toBe(1);
    expect(gapOnly.out).toContain('integrity FAILED: 1 problem in 1 counter (1 gap)');

    const clean = await ops(['integrity', '--counter', counterOf('OPSB')]);
    expect(clean.code).toBe(0);

    expect((await ops(['restore', 'mariadb', 'latest', '--yes'])).code).toBe(0);
    const after = await ops(['integrity']);
    expect(after.code).toBe(0);
    expect(existsSync(backup.path)).toBe(true);
  });
});

describe('ops dr on the devstack', () => {
  it('stops at integrity on a damaged ledger without touching the service, then recovers it from the latest backup', async () => {
    const gapKey = counterOf('OPSB');
    // `--from latest` must bring back this ledger, with every number allocated so far.
    expect((await ops(['backup', 'mariadb'])).code).toBe(0);
    await root(`DELETE FROM ${db()}.numbers WHERE counter_key = '${gapKey}' AND sequence = 2;`);

    const refused = await ops(['dr']);
    console.log(`[ops-int] dr without --from on a damaged ledger:\n${refused.out}`);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('disaster recovery stopped at integrity');
    expect(refused.out).toMatch(/redis\s+ok/);
    expect(refused.out).toMatch(/service\s+skipped/);

    const t0 = Date.now();
    const recovered = await ops(['dr', '--from', 'latest', '--yes']);
    console.log(`[ops-int] dr --from latest in ${Date.now() - t0} ms:\n${recovered.out}`);
    expect(recovered.code).toBe(0);
    for (const step of ['redis', 'database', 'restore', 'integrity', 'service', 'health']) expect(recovered.out).toMatch(new RegExp(`^  ${step}\\s+ok`, 'm'));
    expect(recovered.out).toContain('disaster recovery complete');
    expect((await ops(['integrity'])).code).toBe(0);
    // The service it restarted numbers on from the restored ledger.
    const before = allocated.filter((a) => a.counterKey === gapKey).length;
    await allocate('OPSB');
    expect(allocated.at(-1)!.sequence).toBe(before + 1);
  });
});

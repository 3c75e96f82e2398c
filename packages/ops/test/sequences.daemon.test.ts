import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceError } from '../../../services/numbering/src/domain/errors.js';
import { addTemplate, allocate, allocateOk, cancelReservation, checksum, confirmReservation, count, query, runOps, startSequenceBed, type SequenceBed } from './support/sequence-ledger.js';

/**
 * The sequence commands against a real MariaDB (devstack harness, service migrations), on a ledger
 * written by the service's own allocation, reservation and admin code. Nothing is mocked. Each
 * describe block uses its own template or period, in file order.
 */

let bed: SequenceBed;
const year = new Date().getUTCFullYear();
const ops = (...argv: string[]) => runOps(bed, argv);
const opsAt = (now: Date, ...argv: string[]) => runOps(bed, argv, { now });
const n = (sql: string, params: unknown[] = []) => count(bed.pool, sql, params);
const auditRows = () => n('SELECT COUNT(*) FROM audit_log');

beforeAll(async () => {
  bed = await startSequenceBed();
});

afterAll(async () => {
  await bed?.stop();
});

describe('ops sequences', () => {
  const hot = `OPSSEQ|${year}|PROJECT=HOT`;

  beforeAll(async () => {
    await addTemplate(bed.pool, 'OPSSEQ', { pattern: 'OPS-{PROJECT}-{YYYY}-{SEQ:3}', resetScope: 'YEARLY', maxValue: 100 });
    await allocateOk(bed.pool, 'OPSSEQ', { PROJECT: 'HOT' }, { count: 96 });
    await allocateOk(bed.pool, 'OPSSEQ', { PROJECT: 'COLD' }, { count: 10 });
    await allocateOk(bed.pool, 'OPSSEQ', { PROJECT: 'OLD' }, { count: 92, date: { year: year - 1, month: 6 } });
    // History: the counters began 40 days ago, and all but HOT's last 28 numbers were issued 30 days ago.
    await query(bed.pool, "UPDATE counters c JOIN templates t ON t.id = c.template_id SET c.created_at = NOW(3) - INTERVAL 40 DAY WHERE t.name = 'OPSSEQ'");
    await query(bed.pool, "UPDATE numbers n JOIN templates t ON t.id = n.template_id SET n.created_at = NOW(3) - INTERVAL 30 DAY WHERE t.name = 'OPSSEQ' AND NOT (n.counter_key = ? AND n.sequence > 68)", [hot]);
  });

  it('lists every counter by utilization with its rate and days to exhaustion, marking those above the alert thresholds', async () => {
    const r = await ops('sequences', '--template', 'OPSSEQ');
    expect(r.code, r.text).toBe(0);
    console.log(r.out.join('\n'));
    expect(r.out[0]).toMatch(/^counters of devstack .*allocation rate over the last 7d:$/);
    expect(r.out[1]).toMatch(/^ {2}counter\s+template\s+current\s+max\s+used\s+per day\s+days left\s+status$/);
    // 28 numbers in 7 days = 4.0 a day; 4 left = 1 day.
    expect(r.out[2]).toMatch(new RegExp(`^!!OPSSEQ\\|${year}\\|PROJECT=HOT\\s+OPSSEQ\\s+96\\s+100\\s+96\\.0 %\\s+4\\.0\\s+1\\s+CRITICAL >95%$`));
    expect(r.out[3]).toMatch(new RegExp(`^! OPSSEQ\\|${year - 1}\\|PROJECT=OLD\\s+OPSSEQ\\s+92\\s+100\\s+92\\.0 %\\s+0\\s+-\\s+WARNING >90%, closed period$`));
    expect(r.out[4]).toMatch(new RegExp(`^ {2}OPSSEQ\\|${year}\\|PROJECT=COLD\\s+OPSSEQ\\s+10\\s+100\\s+10\\.0 %\\s+0\\s+never$`));
    expect(r.out[5]).toBe(`2 of 3 counters above the warning threshold (90%), 1 above critical (95%): ${hot}, OPSSEQ|${year - 1}|PROJECT=OLD`);
  });

  it('takes the rate over the --window given', async () => {
    const r = await ops('sequences', '--window', '1d');
    expect(r.code, r.text).toBe(0);
    // 28 in one day: the 4 values left last less than a day.
    expect(r.out.find((l) => l.includes('PROJECT=HOT'))).toMatch(/96\.0 %\s+28\.0\s+<1\s+CRITICAL/);
  });

  it('names the templates when --template is unknown', async () => {
    const r = await ops('sequences', '--template', 'NOPE');
    expect(r.code).toBe(1);
    expect(r.err).toEqual(['ops sequences: unknown template "NOPE" (templates: CIRCULATION, CORRESPONDENCE, OPSSEQ, RFA, TRANSMITTAL)']);
    const empty = await ops('sequences', '--template', 'RFA');
    expect(empty.out).toEqual(['template RFA has no counters yet (its first allocation creates one)']);
  });
});

describe('ops adjust-max', () => {
  const key = (project: string) => `OPSSEQ|${year}|PROJECT=${project}`;
  const state = () => checksum(bed.pool, "SELECT t.max_value, t.version, c.counter_key, c.max_value FROM counters c JOIN templates t ON t.id = c.template_id WHERE t.name = 'OPSSEQ' ORDER BY c.counter_key");
  const maxOf = async (counterKey: string) => n('SELECT max_value FROM counters WHERE counter_key = ?', [counterKey]);

  it('refuses a maximum below a counter\'s current value, or wider than the pattern prints, and changes nothing', async () => {
    const before = await state();
    const audits = await auditRows();
    const below = await ops('adjust-max', '--template', 'OPSSEQ', '--max', '95', '--reason', 'shrink the range');
    expect(below.code).toBe(1);
    expect(below.err[0]).toBe(`ops adjust-max: refused: --max 95 is below the value 96 that counter ${key('HOT')} has already reached; a maximum below a counter's current value is never allowed. Nothing was changed`);
    const many = await ops('adjust-max', '--template', 'OPSSEQ', '--max', '5', '--reason', 'shrink the range');
    expect(many.err[0]).toContain('(and 2 more counters above 5)');
    const one = await ops('adjust-max', '--counter', key('HOT'), '--max', '50', '--reason', 'shrink the range');
    expect(one.code).toBe(1);
    expect(one.err[0]).toContain('refused: --max 50 is below the value 96');
    const wide = await ops('adjust-max', '--template', 'OPSSEQ', '--max', '1000', '--reason', 'grow the range');
    expect(wide.code).toBe(1);
    expect(wide.err[0]).toContain("--max 1000 does not fit template OPSSEQ's {SEQ:3} (at most 999)");
    expect(await state()).toEqual(before);
    expect(await auditRows()).toBe(audits);
  });

  it('raises a template and all its counters in one audited transaction; the same again changes nothing', async () => {
    const version = await n("SELECT version FROM templates WHERE name = 'OPSSEQ'");
    const r = await ops('adjust-max', '--template', 'OPSSEQ', '--max', '999', '--reason', 'INC-7 range too small');
    expect(r.code, r.text).toBe(0);
    expect(r.out[0]).toMatch(/^template OPSSEQ: max_value 100 -> 999; 3 counters updated \(audit action MAX_VALUE_ADJUST, actor ops@/);
    expect(await n("SELECT max_value FROM templates WHERE name = 'OPSSEQ'")).toBe(999);
    expect(await n("SELECT version FROM templates WHERE name = 'OPSSEQ'")).toBe(version + 1);
    expect(await n("SELECT COUNT(*) FROM counters c JOIN templates t ON t.id = c.template_id WHERE t.name = 'OPSSEQ' AND c.max_value = 999")).toBe(3);
    const audit = await query(bed.pool, "SELECT counter_key, details FROM audit_log WHERE action = 'MAX_VALUE_ADJUST' AND actor LIKE 'ops@%' AND reason = 'INC-7 range too small' ORDER BY id");
    // Counters in key order: last year's first.
    expect(audit.map((a) => a.counter_key)).toEqual([null, `OPSSEQ|${year - 1}|PROJECT=OLD`, key('COLD'), key('HOT')]);
    expect(JSON.parse(String(audit[0]!.details))).toEqual({ name: 'OPSSEQ', changed: { maxValue: { from: 100, to: 999 } }, counters: 3 });

    const before = await state();
    const audits = await auditRows();
    const again = await ops('adjust-max', '--template', 'OPSSEQ', '--max', '999', '--reason', 'INC-7 range too small');
    expect(again.code).toBe(0);
    expect(again.out).toEqual(['template OPSSEQ and its counters: max_value is already 999; nothing changed']);
    expect(await state()).toEqual(before);
    expect(await auditRows()).toBe(audits);
  });

  it('lowers down to the highest counter value, adjusts one counter alone, and the service honours the new maximum', async () => {
    expect((await ops('adjust-max', '--template', 'OPSSEQ', '--max', '96', '--reason', 'back to a tight range')).code).toBe(0);
    const one = await ops('adjust-max', '--counter', key('COLD'), '--max', '50', '--reason', 'COLD needs less');
    expect(one.code, one.text).toBe(0);
    expect(one.out[0]).toMatch(new RegExp(`^counter OPSSEQ\\|${year}\\|PROJECT=COLD: max_value 96 -> 50 .*; template OPSSEQ keeps max_value 96$`));
    expect([await maxOf(key('HOT')), await maxOf(key('COLD')), await n("SELECT max_value FROM templates WHERE name = 'OPSSEQ'")]).toEqual([96, 50, 96]);
    // HOT is at 96 of 96: the service's allocation transaction now refuses it.
    const [outcome] = await allocate(bed.pool, 'OPSSEQ', { PROJECT: 'HOT' });
    expect(outcome?.ok).toBe(false);
    expect(outcome && !outcome.ok && outcome.error.code).toBe('SEQUENCE_EXHAUSTED');
    const missing = await ops('adjust-max', '--counter', 'NO|SUCH', '--max', '5', '--reason', 'no such counter');
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toContain('no counter "NO|SUCH"');
  });
});

describe('ops cleanup-reservations', () => {
  const fields = { PROJECT: 'LCBP3', ORIGINATOR: 'RES' };
  const counterKey = 'TRANSMITTAL|-|PROJECT=LCBP3|ORIGINATOR=RES';
  let expired: string[] = [];
  let expiredTokens: string[] = [];

  it('marks only RESERVED rows past expires_at EXPIRED, with audit rows, deleting nothing; a second run finds none', async () => {
    const due = await allocateOk(bed.pool, 'TRANSMITTAL', fields, { kind: 'reserve', ttlSeconds: 0, count: 3 });
    expired = due.map((a) => a.number);
    expiredTokens = due.map((a) => a.token!);
    await allocateOk(bed.pool, 'TRANSMITTAL', fields, { kind: 'reserve', ttlSeconds: 3600, count: 2 });
    const [toConfirm] = await allocateOk(bed.pool, 'TRANSMITTAL', fields, { kind: 'reserve', ttlSeconds: 3600 });
    const [toCancel] = await allocateOk(bed.pool, 'TRANSMITTAL', fields, { kind: 'reserve', ttlSeconds: 3600 });
    await confirmReservation(bed.pool, toConfirm!.token!);
    await cancelReservation(bed.pool, toCancel!.token!);
    await allocateOk(bed.pool, 'TRANSMITTAL', fields, { count: 2 });
    // A confirmed and a cancelled reservation whose expiry has passed since: not RESERVED, so not touched.
    await query(bed.pool, 'UPDATE numbers SET expires_at = NOW(3) - INTERVAL 1 HOUR WHERE number IN (?)', [[toConfirm!.number, toCancel!.number]]);

    const ledger = await n('SELECT COUNT(*) FROM numbers');
    const others = () => checksum(bed.pool, 'SELECT id, state, updated_at, expires_at, note FROM numbers WHERE number NOT IN (?) OR number IS NULL ORDER BY id', [expired]);
    const untouched = await others();

    const dry = await ops('cleanup-reservations', '--dry-run');
    expect(dry.code, dry.text).toBe(0);
    expect(dry.out).toEqual(['dry run: 3 reservations past expires_at would be marked EXPIRED:', `  ${counterKey}: 3`, '2 still RESERVED and not yet due; nothing was changed']);
    expect(await n("SELECT COUNT(*) FROM numbers WHERE state = 'RESERVED' AND counter_key = ?", [counterKey])).toBe(5);

    const audits = await auditRows();
    const r = await ops('cleanup-reservations');
    expect(r.code, r.text).toBe(0);
    expect(r.out[0]).toMatch(/^marked 3 expired reservations EXPIRED \(audit action EXPIRE, actor ops@.*; nothing deleted\):$/);
    expect(r.out.slice(1)).toEqual([`  ${counterKey}: 3`, '2 still RESERVED and not yet due']);
    const states = await query(bed.pool, 'SELECT number, state FROM numbers WHERE number IN (?) ORDER BY number', [expired]);
    expect(states.map((s) => s.state)).toEqual(['EXPIRED', 'EXPIRED', 'EXPIRED']);
    const audit = await query(bed.pool, "SELECT number FROM audit_log WHERE action = 'EXPIRE' AND actor LIKE 'ops@%' ORDER BY number");
    expect(audit.map((a) => a.number)).toEqual([...expired].sort());
    expect(await auditRows()).toBe(audits + 3);
    expect(await n('SELECT COUNT(*) FROM numbers')).toBe(ledger);
    expect(await others()).toEqual(untouched);

    const again = await ops('cleanup-reservations');
    expect(again.out).toEqual(['no reservations past their expires_at; nothing changed (2 still RESERVED and not yet due)']);
    expect(await auditRows()).toBe(audits + 3);
  });

  it('leaves the service answering an expired reservation with 410', async () => {
    const error = await confirmReservation(bed.pool, expiredTokens[0]!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).statusCode).toBe(410);
  });
});

describe('ops yearly-reset', () => {
  const corr = (originator: string) => ({ PROJECT: 'P1', ORIGINATOR: originator, RECIPIENT: 'XYZ', CORR_TYPE: 'LET' });
  const corrKey = (y: number, originator: string) => `CORRESPONDENCE|${y}|PROJECT=P1|ORIGINATOR=${originator}|RECIPIENT=XYZ|CORR_TYPE=LET`;
  const rfaKey = (y: number) => `RFA|${y}|PROJECT=P1|RFA_TYPE=SHOP|DISCIPLINE=CIV`;
  const counters = () => checksum(bed.pool, 'SELECT counter_key, template_id, period, epoch, current_value, max_value FROM counters ORDER BY counter_key');

  beforeAll(async () => {
    await allocateOk(bed.pool, 'CORRESPONDENCE', corr('AAA'), { date: { year: 2030, month: 11 }, count: 3 });
    await allocateOk(bed.pool, 'CORRESPONDENCE', corr('BBB'), { date: { year: 2030, month: 12 } });
    await allocateOk(bed.pool, 'RFA', { PROJECT: 'P1', DISCIPLINE: 'CIV', RFA_TYPE: 'SHOP' }, { date: { year: 2030, month: 3 }, count: 2 });
    // Not YEARLY: never reset by this command.
    await allocateOk(bed.pool, 'TRANSMITTAL', { PROJECT: 'P1', ORIGINATOR: 'AAA' }, { date: { year: 2030, month: 3 } });
    await allocateOk(bed.pool, 'CIRCULATION', { PROJECT: 'P1' }, { date: { year: 2030, month: 5 } });
    // The service has already started AAA's 2031 series by itself, on its first 2031 allocation.
    await allocateOk(bed.pool, 'CORRESPONDENCE', corr('AAA'), { date: { year: 2031, month: 1 }, count: 2 });
  });

  it('shows in a dry run which counters it would create, creating none', async () => {
    const before = await counters();
    const r = await ops('yearly-reset', '--year', '2031', '--dry-run');
    expect(r.code, r.text).toBe(0);
    console.log(r.out.join('\n'));
    expect(r.out).toContain('  CORRESPONDENCE: 2 counters in 2030 -> 1 would create, 1 already present in 2031');
    expect(r.out).toContain(`    + ${corrKey(2031, 'BBB')}`);
    expect(r.out).toContain(`    + ${rfaKey(2031)}`);
    expect(r.out.at(-1)).toBe('dry run: would create 2 counters of 2031; nothing was changed');
    expect(await counters()).toEqual(before);
  });

  it("creates the new year's counters as the service would (epoch 1, value 0, template max), audited; a second run changes nothing", async () => {
    const audits = await auditRows();
    const r = await ops('yearly-reset', '--year', '2031');
    expect(r.code, r.text).toBe(0);
    expect(r.out.at(-1)).toBe('created 2 counters of 2031 (epoch 1, value 0); 1 already existed');
    const created = await query(bed.pool, "SELECT counter_key, period, epoch, current_value, max_value FROM counters WHERE period = '2031' ORDER BY counter_key");
    expect(created.map((c) => [c.counter_key, c.period, Number(c.epoch), Number(c.current_value), Number(c.max_value)])).toEqual([
      [corrKey(2031, 'AAA'), '2031', 1, 2, 9999],
      [corrKey(2031, 'BBB'), '2031', 1, 0, 9999],
      [rfaKey(2031), '2031', 1, 0, 9999],
    ]);
    const audit = await query(bed.pool, "SELECT counter_key, reason FROM audit_log WHERE action = 'COUNTER_PRECREATE' AND actor LIKE 'ops@%' ORDER BY counter_key");
    expect(audit.map((a) => [a.counter_key, a.reason])).toEqual([
      [corrKey(2031, 'BBB'), 'yearly reset: counters of 2031'],
      [rfaKey(2031), 'yearly reset: counters of 2031'],
    ]);
    expect(await auditRows()).toBe(audits + 2);

    const after = await counters();
    const again = await ops('yearly-reset', '--year', '2031');
    expect(again.code).toBe(0);
    expect(again.out.at(-1)).toBe('nothing to do: every 2030 scope already has its 2031 counter (3 counters of 2031); nothing changed');
    expect(await counters()).toEqual(after);
    expect(await auditRows()).toBe(audits + 2);
    // No --year in December: the coming year.
    const december = await opsAt(new Date('2030-12-20T08:00:00Z'), 'yearly-reset');
    expect(december.out[0]).toMatch(/^yearly reset 2031 on /);
    expect(december.out.at(-1)).toMatch(/^nothing to do/);
  });

  it('hands the service the pre-created counter: its first 2031 number of that scope is sequence 1 of that row', async () => {
    const [first] = await allocateOk(bed.pool, 'CORRESPONDENCE', corr('BBB'), { date: { year: 2031, month: 1 } });
    expect(first).toMatchObject({ counterKey: corrKey(2031, 'BBB'), sequence: 1, number: 'P1-BBB-XYZ-LET-2031-0001' });
    expect(await n("SELECT COUNT(*) FROM counters WHERE period = '2031'")).toBe(3);
  });
});

describe('ops archive-audit', () => {
  const corrArch = { PROJECT: 'P9', ORIGINATOR: 'ARC', RECIPIENT: 'XYZ', CORR_TYPE: 'LET' };
  const COLS = 'id, created_at, actor, action, template_id, counter_key, number, sequence, reason, details';
  const counts = async () => ({ audit: await auditRows(), archive: await n('SELECT COUNT(*) FROM audit_log_archive') });
  let oldIds: string[] = [];

  /** Allocates `k` numbers (k audit rows) and makes their audit rows `years` old. */
  async function ageAuditRows(k: number, years: number): Promise<string[]> {
    const from = await n('SELECT COALESCE(MAX(id), 0) FROM audit_log');
    await allocateOk(bed.pool, 'CORRESPONDENCE', corrArch, { count: k });
    const ids = (await query(bed.pool, 'SELECT id FROM audit_log WHERE id > ? ORDER BY id', [from])).map((r) => String(r.id));
    expect(ids).toHaveLength(k);
    await query(bed.pool, `UPDATE audit_log SET created_at = NOW(3) - INTERVAL ${years} YEAR WHERE id IN (?)`, [ids]);
    return ids;
  }

  it('moves every row older than the cutoff in verified batches, losing none (counts and checksum), and a second run changes nothing', async () => {
    oldIds = await ageAuditRows(250, 3);
    const recentIds = await ageAuditRows(10, 1);
    const before = await counts();
    const moved = await checksum(bed.pool, `SELECT ${COLS} FROM audit_log WHERE id IN (?) ORDER BY id`, [oldIds]);
    expect(moved.rows).toBe(250);

    const dry = await ops('archive-audit', '--older-than', '2y', '--batch', '100', '--dry-run');
    expect(dry.code, dry.text).toBe(0);
    expect(dry.out[0]).toMatch(/^audit_log rows created before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \(older than 2y\): 250 \(oldest .*, newest .*\)$/);
    expect(dry.out[1]).toBe(`dry run: would move 250 rows in 3 batches of up to 100; nothing was changed (audit_log ${before.audit} rows, audit_log_archive 0)`);
    expect(await counts()).toEqual(before);

    const r = await ops('archive-audit', '--older-than', '2y', '--batch', '100');
    expect(r.code, r.text).toBe(0);
    console.log(r.out.join('\n'));
    expect(r.out[1]).toBe(`moved 250 rows to audit_log_archive in 3 batches; audit_log now ${before.audit - 250} rows, audit_log_archive 250`);
    expect(r.progress).toHaveLength(3);
    expect(await counts()).toEqual({ audit: before.audit - 250, archive: 250 });
    expect(await checksum(bed.pool, `SELECT ${COLS} FROM audit_log_archive WHERE id IN (?) ORDER BY id`, [oldIds])).toEqual(moved);
    expect(await n('SELECT COUNT(*) FROM audit_log WHERE id IN (?)', [oldIds])).toBe(0);
    expect(await n('SELECT COUNT(*) FROM audit_log WHERE id IN (?)', [recentIds])).toBe(10);

    const again = await ops('archive-audit', '--older-than', '2y');
    expect(again.code).toBe(0);
    expect(again.out).toEqual([expect.stringMatching(/\(older than 2y\): 0$/), `nothing to archive; nothing changed (audit_log ${before.audit - 250} rows, audit_log_archive 250)`]);
    expect(await counts()).toEqual({ audit: before.audit - 250, archive: 250 });
  });

  it('archives while the service keeps writing audit rows, and every row is in exactly one of the two tables', async () => {
    const aged = await ageAuditRows(300, 3);
    const before = await counts();
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await allocateOk(bed.pool, 'CORRESPONDENCE', corrArch, { count: 5 });
    })();
    const [r] = await Promise.all([ops('archive-audit', '--older-than', '2y', '--batch', '50'), writer]);
    expect(r.code, r.text).toBe(0);
    const after = await counts();
    console.log(`archive during allocations: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}, ${r.progress.length} batches`);
    expect(after.archive).toBe(before.archive + 300);
    expect(after.audit + after.archive).toBe(before.audit + before.archive + 100);
    expect(await n(`SELECT COUNT(*) FROM audit_log a JOIN audit_log_archive x ON x.id = a.id`)).toBe(0);
    expect(await n('SELECT COUNT(*) FROM audit_log_archive WHERE id IN (?)', [aged])).toBe(300);
  });

  it('removes a row restored into audit_log that is already archived unchanged, and refuses one whose contents differ', async () => {
    // As if audit_log had been restored from a backup taken before the archive run.
    await query(bed.pool, `INSERT INTO audit_log (${COLS}) SELECT ${COLS} FROM audit_log_archive WHERE id = ?`, [oldIds[0]]);
    const before = await counts();
    const same = await ops('archive-audit', '--older-than', '2y');
    expect(same.code, same.text).toBe(0);
    expect(same.out[1]).toContain('moved 1 row to audit_log_archive in 1 batch (1 already archived with identical contents: only removed from audit_log)');
    expect(await counts()).toEqual({ audit: before.audit - 1, archive: before.archive });

    const archived = await checksum(bed.pool, `SELECT ${COLS} FROM audit_log_archive ORDER BY id`);
    await query(bed.pool, `INSERT INTO audit_log (${COLS}) SELECT id, created_at, actor, action, template_id, counter_key, number, sequence, CONCAT(IFNULL(reason, ''), ' (edited)'), details FROM audit_log_archive WHERE id = ?`, [oldIds[1]]);
    const differs = await ops('archive-audit', '--older-than', '2y');
    expect(differs.code).toBe(1);
    expect(differs.err[0]).toBe(`ops archive-audit: audit_log rows ${oldIds[1]} are already in audit_log_archive with different contents; this batch was rolled back and nothing in it was deleted. Compare the two rows and resolve by hand`);
    expect(await n('SELECT COUNT(*) FROM audit_log WHERE id = ?', [oldIds[1]])).toBe(1);
    expect(await checksum(bed.pool, `SELECT ${COLS} FROM audit_log_archive ORDER BY id`)).toEqual(archived);
  });
});

describe('while the service allocates', () => {
  it('adjusts max_value and expires reservations concurrently without a lost, repeated or unaccounted sequence value', async () => {
    await addTemplate(bed.pool, 'OPSCONC', { pattern: 'CON-{PROJECT}-{SEQ:5}', resetScope: 'NONE', maxValue: 500 });
    const fields = { PROJECT: 'C' };
    const counterKey = 'OPSCONC|-|PROJECT=C';
    await allocateOk(bed.pool, 'OPSCONC', fields);
    const workers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 25; i++) await allocateOk(bed.pool, 'OPSCONC', fields);
      for (let i = 0; i < 5; i++) await allocateOk(bed.pool, 'OPSCONC', fields, { kind: 'reserve', ttlSeconds: 0 });
    });
    const maintenance = (async () => {
      const codes: number[] = [];
      for (let i = 1; i <= 6; i++) {
        codes.push((await ops('adjust-max', '--template', 'OPSCONC', '--max', String(500 + i * 100), '--reason', `step ${i}`)).code);
        codes.push((await ops('cleanup-reservations')).code);
      }
      return codes;
    })();
    const [codes] = await Promise.all([maintenance, ...workers]);
    expect(codes.every((c) => c === 0)).toBe(true);
    expect((await ops('cleanup-reservations')).code).toBe(0);

    const [c] = await query(bed.pool, 'SELECT current_value, max_value FROM counters WHERE counter_key = ?', [counterKey]);
    const [ledger] = await query(bed.pool, 'SELECT COUNT(*) AS n, COUNT(DISTINCT sequence) AS d, MAX(sequence) AS m, SUM(state = \'RESERVED\') AS r, SUM(state = \'EXPIRED\') AS e FROM numbers WHERE counter_key = ?', [counterKey]);
    expect([Number(c!.current_value), Number(c!.max_value)]).toEqual([121, 1100]);
    expect([Number(ledger!.n), Number(ledger!.d), Number(ledger!.m), Number(ledger!.r), Number(ledger!.e)]).toEqual([121, 121, 121, 0, 20]);
    expect(await n("SELECT COUNT(*) FROM audit_log WHERE action = 'EXPIRE' AND counter_key = ?", [counterKey])).toBe(20);
  });
});

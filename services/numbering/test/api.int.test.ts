import { spawnSync } from 'node:child_process';
import { Cluster } from 'ioredis';
import { migrationEnvironment } from '@numbering/blueprint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrationEnv } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { adminHeaders, metricValue, request, serviceDir, sleep, startInfra, startService, type Infra, type ServiceInstance } from './support/stack.js';

/**
 * The HTTP API against a real Redis Cluster and MariaDB, through one service process started the
 * way the platform starts it. Every expectation is on the wire format or on ledger state.
 */

let infra: Infra;
let svc: ServiceInstance;
let admin: Record<string, string>;
const year = new Date().getUTCFullYear();
const corr = (fields: Record<string, string> = {}) => ({ template: 'CORRESPONDENCE', fields: { PROJECT: 'LCBP3', ORIGINATOR: 'ABC', RECIPIENT: 'XYZ', CORR_TYPE: 'LET', ...fields } });
let keySeq = 0;
const key = () => ({ 'idempotency-key': `api-test-${process.pid}-${++keySeq}` });
const post = <T = Record<string, unknown>>(path: string, body?: unknown, headers: Record<string, string> = {}) => request<T>(svc.url, 'POST', path, body, headers);
const get = <T = Record<string, unknown>>(path: string, headers: Record<string, string> = {}) => request<T>(svc.url, 'GET', path, undefined, headers);
const db = () => infra.testbed.model.mariadb.config.database;

beforeAll(async () => {
  infra = await startInfra();
  admin = adminHeaders(infra);
  svc = await startService(infra, 0, { EXPIRY_SWEEP_INTERVAL_MS: '300' });
  // Leave the start-up fallback mode first, so the assertions below see the Redis fast path.
  for (let i = 0; i < 50 && (await get<{ fallback_mode: boolean }>('/health/numbering')).body.fallback_mode; i++) await sleep(200);
});

afterAll(async () => {
  await svc?.stop();
  await infra?.stop();
});

describe('health and metadata', () => {
  it('reports health per dependency, with the release on every response', async () => {
    const live = await get('/health');
    expect(live.status).toBe(200);
    expect(live.headers['x-release']).toBe('stable');
    expect((await get('/health/ready')).status).toBe(200);
    const numbering = await get<{ status: string; fallback_mode: boolean; redis: { mode: string }; database: { schemaVersion: number }; sequence_integrity: { status: string } }>('/health/numbering');
    expect(numbering.status).toBe(200);
    expect(numbering.body).toMatchObject({ status: 'ok', fallback_mode: false, redis: { mode: 'redis' }, database: { schemaVersion: 3 }, sequence_integrity: { status: 'ok' } });
    expect((await get<{ status: string }>('/health/redis')).body.status).toBe('ok');
    expect((await get<{ status: string }>('/health/database')).body.status).toBe('ok');
    const missing = await get('/no/such/route');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-release']).toBe('stable');
    expect(missing.body).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
    const malformed = await get('/v1/numbers/%E0%A4%A');
    expect(malformed.status).toBe(400);
    expect(malformed.headers['x-release']).toBe('stable');
  });

  it('runs with an app user that has SELECT, INSERT, UPDATE only', async () => {
    const grants = await infra.mariadb.sql(`SHOW GRANTS FOR '${svc.env.DB_USER}'@'127.0.0.1'`).catch(() => infra.mariadb.sql(`SHOW GRANTS FOR '${svc.env.DB_USER}'@'%'`));
    expect(grants).toMatch(/GRANT SELECT, INSERT, UPDATE ON `numbering`\.\*/);
    expect(grants).not.toMatch(/DELETE|DROP|ALTER|ALL PRIVILEGES/);
  });

  it('re-running the migrations is a no-op', async () => {
    const result = await migrate(loadMigrationEnv(migrationEnvironment(infra.testbed.model, infra.testbed.secrets)));
    expect(result).toEqual({ applied: [], skipped: ['001_initial_schema', '002_default_templates', '003_audit_archive'] });
  });

  it('refuses to start with a bad environment and names the variable', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: serviceDir, env: { ...process.env, ...svc.env, PORT: 'eighty', LOCK_TIMEOUT_MS: '' }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/PORT: .*integer/);
    expect(r.stderr).toMatch(/LOCK_TIMEOUT_MS: is required/);
  });
});

describe('POST /v1/numbers', () => {
  it('allocates consecutive CONFIRMED numbers and replays an Idempotency-Key', async () => {
    const headers = key();
    const first = await post<{ number: string; sequence: number; counterKey: string }>('/v1/numbers', corr(), headers);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ number: `LCBP3-ABC-XYZ-LET-${year}-0001`, sequence: 1, counterKey: `CORRESPONDENCE|${year}|PROJECT=LCBP3|ORIGINATOR=ABC|RECIPIENT=XYZ|CORR_TYPE=LET` });
    const again = await post('/v1/numbers', { fields: corr().fields, template: 'CORRESPONDENCE' }, headers);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const conflict = await post<{ code: string; message: string }>('/v1/numbers', corr({ CORR_TYPE: 'MEM' }), headers);
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('IDEMPOTENCY_CONFLICT');
    const second = await post<{ number: string }>('/v1/numbers', corr(), key());
    expect(second.body.number).toBe(`LCBP3-ABC-XYZ-LET-${year}-0002`);
    // Another scope value is another series.
    expect((await post<{ sequence: number }>('/v1/numbers', corr({ ORIGINATOR: 'DEF' }), key())).body.sequence).toBe(1);
    const state = await get<{ state: string; template: string }>(`/v1/numbers/${encodeURIComponent(first.body.number)}`);
    expect(state.body).toMatchObject({ state: 'CONFIRMED', template: 'CORRESPONDENCE' });
  });

  it.each([
    ['no Idempotency-Key', corr(), {}, /headers must have required property 'idempotency-key'/],
    ['an unknown field', { ...corr(), fields: { ...corr().fields, FOO: 'x' } }, key(), /body\/fields must NOT have additional properties: FOO/],
    ['an unknown body property', { ...corr(), extra: 1 }, key(), /must NOT have additional properties: extra/],
    ['a missing field', { template: 'CORRESPONDENCE', fields: { PROJECT: 'LCBP3' } }, key(), /fields\.ORIGINATOR is required by this template/],
    ['a field with a separator', corr({ ORIGINATOR: 'A|B' }), key(), /fields\.ORIGINATOR must be printable, without spaces/],
    ['a number that would be too long', corr({ PROJECT: 'P'.repeat(30) }), key(), /numbers must be 10\.\.50 characters/],
    ['a bad template name', { ...corr(), template: 'no spaces please' }, key(), /body\/template must match pattern/],
    ['malformed JSON', '{"template": ', key(), /JSON/i],
  ])('answers 400 with a clear message for %s', async (_what, body, headers, message) => {
    const res = await post<{ statusCode: number; message: string }>('/v1/numbers', body, headers as Record<string, string>);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
  });

  it('answers 404 for an unknown template', async () => {
    const res = await post<{ message: string }>('/v1/numbers', { ...corr(), template: 'NOPE' }, key());
    expect(res.status).toBe(404);
    expect(res.body.message).toMatch(/unknown template "NOPE"/);
  });
});

describe('Redis fast-path lock', () => {
  it('a counter lock held too long in Redis gives 503 with Retry-After, and nothing is consumed', async () => {
    const body = corr({ ORIGINATOR: 'LCK' });
    const counterKey = `CORRESPONDENCE|${year}|PROJECT=LCBP3|ORIGINATOR=LCK|RECIPIENT=XYZ|CORR_TYPE=LET`;
    const redis = new Cluster(
      infra.testbed.model.redis.nodes.map((n) => ({ host: n.host, port: n.port })),
      { redisOptions: { username: svc.env.REDIS_USER, password: svc.env.REDIS_PASSWORD } },
    );
    try {
      // Someone else (another instance, stuck) holds the counter's lock.
      expect(await redis.set(`numbering:lock:{${counterKey}}`, 'someone-else', 'PX', 60_000, 'NX')).toBe('OK');
      const started = Date.now();
      const res = await post<{ code: string }>('/v1/numbers', body, key());
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('LOCK_TIMEOUT');
      expect(res.headers['retry-after']).toBe('1');
      expect(Date.now() - started).toBeGreaterThanOrEqual(Number(svc.env.LOCK_TIMEOUT_MS) - 50);
      const metrics = String((await get('/metrics')).body);
      expect(metricValue(metrics, 'numbering_lock_failures_total', { reason: 'redis_timeout' })).toBe(1);
      expect(metricValue(metrics, 'numbering_numbers_generated_total', { type: 'CORRESPONDENCE', outcome: 'lock_timeout' })).toBe(1);
      // The foreign lock is left alone (compare-and-delete), and once it is gone allocation resumes at 1.
      expect(await redis.get(`numbering:lock:{${counterKey}}`)).toBe('someone-else');
      await redis.del(`numbering:lock:{${counterKey}}`);
      expect((await post<{ sequence: number }>('/v1/numbers', body, key())).body.sequence).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});

describe('preview', () => {
  it('predicts the next number without consuming it', async () => {
    const body = corr({ ORIGINATOR: 'PRV' });
    const p1 = await post<{ number: string; sequence: number; consumed: boolean }>('/v1/preview', body);
    const p2 = await post<{ number: string }>('/v1/preview', body);
    expect(p1.body).toMatchObject({ sequence: 1, consumed: false });
    expect(p2.body.number).toBe(p1.body.number);
    const real = await post<{ number: string }>('/v1/numbers', body, key());
    expect(real.body.number).toBe(p1.body.number);
    expect((await post<{ sequence: number }>('/v1/preview', body)).body.sequence).toBe(2);
  });
});

describe('reservations', () => {
  const body = corr({ ORIGINATOR: 'RSV' });
  type Reservation = { token: string; number: string; expiresAt: string; sequence: number };

  it('RESERVED -> CONFIRMED, idempotently; a confirmed one cannot be cancelled', async () => {
    const r = await post<Reservation>('/v1/reservations', body);
    expect(r.status).toBe(201);
    const ttl = Date.parse(r.body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    expect((await get<{ state: string }>(`/v1/numbers/${encodeURIComponent(r.body.number)}`)).body.state).toBe('RESERVED');
    const c1 = await post<{ state: string; number: string }>(`/v1/reservations/${r.body.token}/confirm`);
    expect(c1.body).toMatchObject({ state: 'CONFIRMED', number: r.body.number });
    expect((await post<{ state: string }>(`/v1/reservations/${r.body.token}/confirm`)).body.state).toBe('CONFIRMED');
    const cancel = await post<{ code: string }>(`/v1/reservations/${r.body.token}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.code).toBe('INVALID_STATE');
  });

  it('RESERVED -> CANCELLED; the number is not reused', async () => {
    const r = await post<Reservation>('/v1/reservations', body);
    const cancelled = await post<{ state: string }>(`/v1/reservations/${r.body.token}/cancel`, { reason: 'document withdrawn' });
    expect(cancelled.body.state).toBe('CANCELLED');
    expect((await post(`/v1/reservations/${r.body.token}/confirm`)).status).toBe(409);
    const next = await post<Reservation>('/v1/reservations', body);
    expect(next.body.sequence).toBe(r.body.sequence + 1);
  });

  it('RESERVED -> EXPIRED after the TTL: by the sweeper, and on a late confirm (410)', async () => {
    const swept = await post<Reservation>('/v1/reservations', { ...body, ttlSeconds: 1 });
    const late = await post<Reservation>('/v1/reservations', { ...body, ttlSeconds: 1 });
    await sleep(1500);
    const confirm = await post<{ statusCode: number; message: string }>(`/v1/reservations/${late.body.token}/confirm`);
    expect(confirm.status).toBe(410);
    expect(confirm.body.message).toMatch(/expired/);
    let state = '';
    for (let i = 0; i < 30 && state !== 'EXPIRED'; i++) {
      state = (await get<{ state: string }>(`/v1/numbers/${encodeURIComponent(swept.body.number)}`)).body.state;
      if (state !== 'EXPIRED') await sleep(200);
    }
    expect(state).toBe('EXPIRED');
    expect((await get<{ state: string }>(`/v1/numbers/${encodeURIComponent(late.body.number)}`)).body.state).toBe('EXPIRED');
  });

  it('404 for an unknown token, 400 for a malformed one', async () => {
    expect((await post('/v1/reservations/6f1c1d52-5a3c-4c43-9a43-6d3f0f2b4d11/confirm')).status).toBe(404);
    expect((await post('/v1/reservations/not-a-token/confirm')).status).toBe(400);
  });
});

describe('void', () => {
  it('VOIDs a CONFIRMED number and links a replacement; never twice', async () => {
    const body = corr({ ORIGINATOR: 'VOD' });
    const original = await post<{ number: string }>('/v1/numbers', body, key());
    const res = await post<{ voided: { state: string; replacedBy: string }; replacement: { number: string; voidedFrom: string; sequence: number } }>(
      `/v1/numbers/${encodeURIComponent(original.body.number)}/void`,
      { reason: 'typo in the subject' },
    );
    expect(res.status).toBe(200);
    expect(res.body.voided.state).toBe('VOID');
    expect(res.body.replacement).toMatchObject({ voidedFrom: original.body.number, sequence: 2 });
    expect(res.body.voided.replacedBy).toBe(res.body.replacement.number);
    const replacement = await get<{ state: string; voidedFrom: string }>(`/v1/numbers/${encodeURIComponent(res.body.replacement.number)}`);
    expect(replacement.body).toMatchObject({ state: 'CONFIRMED', voidedFrom: original.body.number });
    const twice = await post<{ message: string }>(`/v1/numbers/${encodeURIComponent(original.body.number)}/void`, { reason: 'again' });
    expect(twice.status).toBe(409);
    expect(twice.body.message).toContain(res.body.replacement.number);
    expect((await post('/v1/numbers/NO-SUCH-NUMBER-1/void', { reason: 'nothing' })).status).toBe(404);
    expect((await post(`/v1/numbers/${encodeURIComponent(original.body.number)}/void`, {})).status).toBe(400);
    const audit = await get<{ action: string; reason: string }[]>(`/v1/admin/audit?number=${encodeURIComponent(original.body.number)}`, admin);
    expect(audit.body.map((a) => a.action)).toEqual(expect.arrayContaining(['ALLOCATE', 'VOID']));
  });

  it('handles numbers containing a slash in the path', async () => {
    const created = await post('/v1/admin/templates', { name: 'SLASHED', pattern: '{PROJECT}/DOC/{SEQ:5}', resetScope: 'NONE', reason: 'numbers with slashes' }, admin);
    expect(created.status).toBe(201);
    const n = await post<{ number: string }>('/v1/numbers', { template: 'SLASHED', fields: { PROJECT: 'LCBP3' } }, key());
    expect(n.body.number).toBe('LCBP3/DOC/00001');
    expect((await get<{ state: string }>(`/v1/numbers/${encodeURIComponent(n.body.number)}`)).body.state).toBe('CONFIRMED');
    expect((await post(`/v1/numbers/${encodeURIComponent(n.body.number)}/void`, { reason: 'slash test' })).status).toBe(200);
  });
});

describe('admin', () => {
  it('requires the bearer token', async () => {
    const none = await get('/v1/admin/templates');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await get('/v1/admin/templates', { authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(401);
  });

  it('validates templates and audits every change', async () => {
    const bad = async (body: Record<string, unknown>, message: RegExp) => {
      const res = await post<{ message: string }>('/v1/admin/templates', { reason: 'test', ...body }, admin);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    };
    await bad({ name: 'T1', pattern: 'T1-{FOO}-{SEQ:4}', resetScope: 'NONE' }, /unknown token \{FOO\}/);
    await bad({ name: 'T1', pattern: 'T1-{PROJECT}-{SEQ:4}-{SEQ:2}', resetScope: 'NONE' }, /exactly once/);
    await bad({ name: 'T1', pattern: 'T1-{PROJECT}-{SEQ:4}', resetScope: 'YEARLY' }, /must print the year/);
    await bad({ name: 'T1', pattern: 'T1-{PROJECT}-{SEQ:2}', resetScope: 'NONE', maxValue: 100 }, /does not fit/);
    await bad({ name: 'T1', pattern: 'T1-{PROJECT}-{SEQ:4}', resetScope: 'WEEKLY' }, /resetScope/);
    await bad({ name: 'T1', pattern: 'T1-{PROJECT}-{SEQ:4}', resetScope: 'NONE', reason: '' }, /reason/);

    const created = await post<{ name: string; maxValue: number; version: number }>('/v1/admin/templates', { name: 'TINY', pattern: 'TINY-{PROJECT}-{SEQ:3}', resetScope: 'NONE', maxValue: 3, reason: 'exhaustion test' }, admin);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'TINY', maxValue: 3, version: 1 });
    expect((await post('/v1/admin/templates', { name: 'TINY', pattern: 'TINY-{PROJECT}-{SEQ:3}', resetScope: 'NONE', reason: 'again' }, admin)).status).toBe(409);
    const audit = await get<{ action: string; reason: string }[]>('/v1/admin/audit?limit=5', admin);
    expect(audit.body[0]).toMatchObject({ action: 'TEMPLATE_CREATE', reason: 'exhaustion test' });
  });

  it('answers 409 when a series is exhausted, and continues after max_value is raised', async () => {
    const tiny = { template: 'TINY', fields: { PROJECT: 'LCBP3' } };
    for (let i = 1; i <= 3; i++) expect((await post<{ sequence: number }>('/v1/numbers', tiny, key())).body.sequence).toBe(i);
    const exhausted = await post<{ code: string; message: string }>('/v1/numbers', tiny, key());
    expect(exhausted.status).toBe(409);
    expect(exhausted.body.code).toBe('SEQUENCE_EXHAUSTED');
    expect((await post('/v1/preview', tiny)).status).toBe(409);
    const lower = await post<{ code: string }>('/v1/admin/templates/TINY/max-value', { maxValue: 2, reason: 'too low' }, admin);
    expect(lower.status).toBe(409);
    expect(lower.body.code).toBe('MAX_BELOW_CURRENT');
    const raised = await post<{ maxValue: number; version: number }>('/v1/admin/templates/TINY/max-value', { maxValue: 5, reason: 'more room' }, admin);
    expect(raised.body).toMatchObject({ maxValue: 5, version: 2 });
    expect((await post<{ sequence: number }>('/v1/numbers', tiny, key())).body.sequence).toBe(4);
    const metrics = String((await get('/metrics')).body);
    expect(metricValue(metrics, 'numbering_numbers_generated_total', { type: 'TINY', outcome: 'exhausted' })).toBe(1);
    expect(metricValue(metrics, 'numbering_sequence_utilization', { counter_key: 'TINY|-|PROJECT=LCBP3', template: 'TINY' })).toBeCloseTo(0.8);
  });

  it('a counter reset starts a new epoch that never reissues a number', async () => {
    const tiny = { template: 'TINY', fields: { PROJECT: 'RST' } };
    const before = [];
    for (let i = 0; i < 2; i++) before.push((await post<{ number: string }>('/v1/numbers', tiny, key())).body.number);
    const counterKey = encodeURIComponent('TINY|-|PROJECT=RST');
    const reset = await post<{ epoch: number; currentValue: number }>(`/v1/admin/counters/${counterKey}/reset`, { reason: 'new series' }, admin);
    expect(reset.body).toMatchObject({ epoch: 2, currentValue: 0 });
    const after = await post<{ number: string; sequence: number }>('/v1/numbers', tiny, key());
    expect(before).not.toContain(after.body.number);
    expect(after.body).toMatchObject({ number: 'TINY-RST-003', sequence: 3 });
    const ledger = await infra.mariadb.sql(`SELECT sequence, state FROM ${db()}.numbers WHERE counter_key = 'TINY|-|PROJECT=RST' AND epoch = 2 ORDER BY sequence`);
    expect(ledger.trim().split('\n')).toEqual(['1\tSKIPPED', '2\tSKIPPED', '3\tCONFIRMED']);
    // With a new pattern the new epoch prints new numbers, so it really starts at 1.
    await request(svc.url, 'PUT', '/v1/admin/templates/TINY', { pattern: 'TINY2-{PROJECT}-{SEQ:3}', reason: 'new format' }, admin);
    await post(`/v1/admin/counters/${counterKey}/reset`, { reason: 'new format, new series' }, admin);
    expect((await post<{ number: string }>('/v1/numbers', tiny, key())).body.number).toBe('TINY2-RST-001');
  });

  it('a manual override only moves forward and records the skipped values', async () => {
    const body = corr({ ORIGINATOR: 'OVR' });
    await post('/v1/numbers', body, key());
    const counterKey = encodeURIComponent(`CORRESPONDENCE|${year}|PROJECT=LCBP3|ORIGINATOR=OVR|RECIPIENT=XYZ|CORR_TYPE=LET`);
    const moved = await post<{ currentValue: number }>(`/v1/admin/counters/${counterKey}/override`, { value: 10, reason: 'continue the paper register' }, admin);
    expect(moved.body.currentValue).toBe(10);
    expect((await post<{ sequence: number }>('/v1/numbers', body, key())).body.sequence).toBe(11);
    const back = await post<{ code: string }>(`/v1/admin/counters/${counterKey}/override`, { value: 5, reason: 'backwards' }, admin);
    expect(back.status).toBe(409);
    expect(back.body.code).toBe('OVERRIDE_BACKWARDS');
    const skipped = await infra.mariadb.sql(`SELECT COUNT(*) FROM ${db()}.numbers WHERE counter_key = '${decodeURIComponent(counterKey)}' AND state = 'SKIPPED'`);
    expect(Number(skipped.trim())).toBe(9);
  });

  it('a deactivated template issues nothing', async () => {
    await post('/v1/admin/templates', { name: 'RETIRED', pattern: 'RET-{PROJECT}-{SEQ:4}', resetScope: 'NONE', reason: 'to be retired' }, admin);
    expect((await post('/v1/numbers', { template: 'RETIRED', fields: { PROJECT: 'LCBP3' } }, key())).status).toBe(201);
    const off = await request<{ active: boolean }>(svc.url, 'DELETE', '/v1/admin/templates/RETIRED', { reason: 'document type discontinued' }, admin);
    expect(off.body.active).toBe(false);
    const res = await post<{ code: string }>('/v1/numbers', { template: 'RETIRED', fields: { PROJECT: 'LCBP3' } }, key());
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('TEMPLATE_INACTIVE');
  });
});

describe('ledger and metrics after all of the above', () => {
  it('every counter epoch holds exactly sequences 1..current_value', async () => {
    const rows = await infra.mariadb.sql(
      `SELECT c.counter_key, c.current_value, COUNT(n.id), COUNT(DISTINCT n.sequence), COALESCE(MAX(n.sequence), 0)
       FROM ${db()}.counters c LEFT JOIN ${db()}.numbers n ON n.counter_key = c.counter_key AND n.epoch = c.epoch GROUP BY c.counter_key, c.current_value`,
    );
    const lines = rows.trim().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      const [counterKey, current, count, distinct, max] = line.split('\t');
      expect({ counterKey, count, distinct, max }).toEqual({ counterKey, count: current, distinct: current, max: current });
    }
    // The service's own check (cached for 5 s) agrees.
    let integrity = { status: '', checkedCounters: 0 };
    for (let i = 0; i < 40 && integrity.checkedCounters <= 5; i++) {
      integrity = (await get<{ sequence_integrity: typeof integrity }>('/health/numbering')).body.sequence_integrity;
      if (integrity.checkedCounters <= 5) await sleep(250);
    }
    expect(integrity).toEqual(expect.objectContaining({ status: 'ok' }));
    expect(integrity.checkedCounters).toBeGreaterThan(5);
  });

  it('exports the contract metrics', async () => {
    const text = String((await get('/metrics')).body);
    expect(metricValue(text, 'numbering_numbers_generated_total', { type: 'CORRESPONDENCE', outcome: 'confirmed' })).toBeGreaterThan(5);
    expect(metricValue(text, 'numbering_numbers_generated_total', { type: 'CORRESPONDENCE', outcome: 'replayed' })).toBe(1);
    expect(metricValue(text, 'numbering_lock_wait_seconds_count')).toBeGreaterThan(5);
    expect(metricValue(text, 'numbering_lock_failures_total', { reason: 'redis_unavailable' })).toBe(0);
    expect(metricValue(text, 'numbering_fallback_mode')).toBe(0);
    expect(metricValue(text, 'numbering_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
    for (const state of ['idle', 'in_use', 'waiting']) expect(metricValue(text, 'numbering_db_pool_connections', { state })).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/numbers', status_code: '201', release: 'stable' })).toBeGreaterThan(5);
    expect(metricValue(text, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/numbers', status_code: '400', release: 'stable' })).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { planFailover, planSwitchover, reportCluster, type PatroniCluster, type PatroniClusterMember, type PatroniDynamicConfig } from '../src/patroni.js';
import { chooseBackupForTime, parsePgbackrestInfo, parseRecoveryTarget, summarizeRecoveryLog, type PgbackrestBackupInfo, type PgbackrestStanzaInfo } from '../src/pgbackrest.js';

const member = (name: string, role: string, extra: Partial<PatroniClusterMember> = {}): PatroniClusterMember => ({ name, role, state: 'running', host: '127.0.0.1', port: 5441 + Number(name.slice(3)), timeline: 1, ...(role === 'leader' ? {} : { lag: 0 }), ...extra });
const healthy = (): PatroniCluster => ({ members: [member('pg-0', 'leader'), member('pg-1', 'sync_standby'), member('pg-2', 'replica')] });
const sync: PatroniDynamicConfig = { synchronous_mode: true, maximum_lag_on_failover: 1_048_576 };
const async_: PatroniDynamicConfig = { synchronous_mode: false, maximum_lag_on_failover: 1_048_576 };
const names = ['pg-0', 'pg-1', 'pg-2'];

describe('reportCluster (ops pg status)', () => {
  it('passes a cluster with one leader and streaming replicas, one line per member', () => {
    const r = reportCluster(healthy(), sync, names, 'pg-2');
    expect(r.problems).toEqual([]);
    expect(r.leader).toBe('pg-0');
    expect(r.lines[0]).toBe('Patroni cluster via pg-2: synchronous_mode on, maximum_lag_on_failover 1.0 MiB');
    expect(r.lines[1]).toMatch(/^member +host:port +role +state +TL +lag$/);
    expect(r.lines[2]).toMatch(/^pg-0 +127\.0\.0\.1:5441 +leader +running +1 +-$/);
    expect(r.lines[3]).toMatch(/^pg-1 +127\.0\.0\.1:5442 +sync_standby +running +1 +0 B$/);
    expect(r.lines.at(-1)).toBe('ok: leader pg-0, 2 replica(s) running');
  });

  it('names what is wrong: no leader, a missing or stopped member, a lagging replica, another timeline', () => {
    const cluster: PatroniCluster = { members: [member('pg-1', 'replica', { state: 'stopped', lag: 'unknown' }), member('pg-2', 'replica', { lag: 5_000_000, timeline: 2 })] };
    const r = reportCluster(cluster, async_, names, 'pg-1');
    expect(r.leader).toBeUndefined();
    expect(r.problems).toEqual([
      'the cluster has no leader',
      'pg-0 is not in the cluster (Patroni not running or not registered in the DCS)',
      'pg-1 is stopped',
      'pg-1: replication lag unknown (not streaming?)',
    ]);
    const withLeader = reportCluster({ members: [member('pg-0', 'leader'), ...cluster.members] }, async_, names, 'pg-0');
    expect(withLeader.problems).toEqual(
      expect.arrayContaining([
        'pg-2 is on timeline 2, the leader on 1',
        'pg-2 lags 4.8 MiB behind, more than maximum_lag_on_failover (1.0 MiB): it cannot be promoted',
      ]),
    );
    expect(withLeader.lines.at(-1)).toMatch(/^ {2}- /);
  });

  it('reports synchronous mode without a synchronous standby and a paused cluster', () => {
    const r = reportCluster({ members: [member('pg-0', 'leader'), member('pg-1', 'replica'), member('pg-2', 'replica')], pause: true }, sync, names, 'pg-0');
    expect(r.problems).toEqual(['synchronous_mode is on but no member is a synchronous standby: commits wait', 'the cluster is paused (maintenance mode): Patroni will not fail over']);
  });
});

describe('planSwitchover / planFailover', () => {
  it('switches over from the leader to a named or Patroni-picked replica', () => {
    expect(planSwitchover(healthy(), sync, 'pg-1')).toEqual({ action: 'switchover', leader: 'pg-0', candidate: 'pg-1', body: { leader: 'pg-0', candidate: 'pg-1' } });
    expect(planSwitchover(healthy(), sync).body).toEqual({ leader: 'pg-0' });
    expect(planSwitchover(healthy(), async_, 'pg-2').candidate).toBe('pg-2');
  });

  it('refuses a switchover without a leader, to a stranger, to the leader, to a sick or lagging replica', () => {
    const noLeader: PatroniCluster = { members: [member('pg-1', 'replica'), member('pg-2', 'replica')] };
    expect(() => planSwitchover(noLeader, async_, 'pg-1')).toThrow('the cluster has no leader: a switchover needs one; use `ops pg failover --to MEMBER`');
    expect(() => planSwitchover(healthy(), async_, 'pg-7')).toThrow('no such member pg-7 (members: pg-0, pg-1, pg-2)');
    expect(() => planSwitchover(healthy(), async_, 'pg-0')).toThrow('pg-0 is already the leader');
    const sick: PatroniCluster = { members: [member('pg-0', 'leader'), member('pg-1', 'replica', { state: 'starting' }), member('pg-2', 'replica', { lag: 9_999_999 })] };
    expect(() => planSwitchover(sick, async_, 'pg-1')).toThrow('pg-1 is not a healthy replica: it is starting');
    expect(() => planSwitchover(sick, async_, 'pg-2')).toThrow('pg-2 lags 9.5 MiB behind, more than maximum_lag_on_failover (1.0 MiB)');
    expect(() => planSwitchover(sick, async_)).toThrow(/no replica can take over from pg-0: pg-1 is not a healthy replica: it is starting; pg-2 lags/);
    const tagged: PatroniCluster = { members: [member('pg-0', 'leader'), member('pg-1', 'replica', { tags: { nofailover: true } })] };
    expect(() => planSwitchover(tagged, async_, 'pg-1')).toThrow('pg-1 is tagged nofailover');
  });

  it('in synchronous mode, only hands over to a synchronous standby', () => {
    expect(() => planSwitchover(healthy(), sync, 'pg-2')).toThrow('synchronous_mode is on and pg-2 is not a synchronous standby; a switchover may only go to pg-1');
    expect(() => planFailover(healthy(), sync, 'pg-2')).toThrow('a failover may only go to pg-1');
  });

  it('fails over to a named replica, with or without a leader', () => {
    const noLeader: PatroniCluster = { members: [member('pg-1', 'replica'), member('pg-2', 'replica')] };
    expect(planFailover(noLeader, async_, 'pg-2')).toEqual({ action: 'failover', candidate: 'pg-2', body: { candidate: 'pg-2' } });
    expect(planFailover(healthy(), sync, 'pg-1')).toMatchObject({ leader: 'pg-0', candidate: 'pg-1' });
    expect(() => planFailover(healthy(), sync, 'pg-0')).toThrow('pg-0 is already the leader');
  });
});

describe('pgBackRest pieces', () => {
  it('reads a recovery target with a zone, keeping the text for PostgreSQL', () => {
    expect(parseRecoveryTarget('2026-11-23T13:05:58.777076Z')).toEqual({ text: '2026-11-23T13:05:58.777076Z', postgres: '2026-11-23 13:05:58.777076+00', ms: Date.UTC(2026, 10, 23, 13, 5, 58, 777) });
    expect(parseRecoveryTarget('2026-11-23T14:05+01:00').postgres).toBe('2026-11-23 14:05:00+01:00');
    expect(parseRecoveryTarget(' 2026-11-23 14:05:58+01:00 ').ms).toBe(Date.UTC(2026, 10, 23, 13, 5, 58));
    expect(parseRecoveryTarget('2026-11-23 13:05:58.83183+00').ms).toBe(Date.UTC(2026, 10, 23, 13, 5, 58, 831));
    expect(parseRecoveryTarget('2026-11-23T08:35-0430').ms).toBe(Date.UTC(2026, 10, 23, 13, 5));
    expect(() => parseRecoveryTarget('2026-11-23 13:05:58')).toThrow(/--to must be a time with a zone/);
    expect(() => parseRecoveryTarget('yesterday')).toThrow(/--to must be a time with a zone/);
    expect(() => parseRecoveryTarget('2026-02-30T00:00:00Z')).toThrow(/not a valid date and time/);
  });

  const backup = (label: string, start: number, stop: number, extra: Partial<PgbackrestBackupInfo> = {}): PgbackrestBackupInfo => ({
    label,
    type: 'full',
    timestamp: { start, stop },
    archive: { start: '000000010000000000000002', stop: '000000010000000000000003' },
    info: { size: 30_000_000, delta: 30_000_000, repository: { size: 6_000_000, delta: 6_000_000 } },
    ...extra,
  });
  const info = (backups: PgbackrestBackupInfo[]): PgbackrestStanzaInfo => ({ name: 'numbering-pg', status: { code: 0, message: 'ok' }, backup: backups, archive: [{ id: '15-1', min: null, max: null }], db: [] });
  const at = (seconds: number) => ({ text: `t${seconds}`, postgres: `t${seconds}`, ms: seconds * 1000 });

  it('chooses the newest good backup that finished before the target', () => {
    const i = info([backup('A', 100, 110), backup('B', 200, 210), backup('C', 300, 310, { error: true })]);
    expect(chooseBackupForTime(i, at(400)).label).toBe('B');
    expect(chooseBackupForTime(i, at(211)).label).toBe('B');
    expect(chooseBackupForTime(i, at(210.5)).label).toBe('A'); // B's stop second is not over yet
    expect(() => chooseBackupForTime(i, at(105))).toThrow(/no backup finished before t105: the earliest, A, finished at 1970-01-01T00:01:50.000Z/);
    expect(() => chooseBackupForTime(info([]), at(400))).toThrow(/has no backup of stanza numbering-pg/);
  });

  it('reads our stanza from pgbackrest info JSON', () => {
    const json = JSON.stringify([{ ...info([backup('A', 1, 2)]), name: 'other' }, info([backup('B', 1, 2)])]);
    expect(parsePgbackrestInfo(json, 'numbering-pg').backup[0]!.label).toBe('B');
    expect(() => parsePgbackrestInfo(json, 'nope')).toThrow('pgbackrest info knows no stanza nope');
    expect(() => parsePgbackrestInfo('ERROR: [055]', 'nope')).toThrow(/did not print JSON/);
  });

  it("reads where recovery stopped from the restored server's log", () => {
    const log = [
      '2026-11-23 13:06:07.575 UTC [19121] LOG:  consistent recovery state reached at 0/8000088',
      '2026-11-23 13:06:07.602 UTC [19121] LOG:  recovery stopping before commit of transaction 754, time 2026-11-23 13:05:59.83183+00',
      '2026-11-23 13:06:07.705 UTC [19121] LOG:  selected new timeline ID: 2',
    ].join('\n');
    expect(summarizeRecoveryLog(log)).toEqual({ stopped: 'recovery stopping before commit of transaction 754, time 2026-11-23 13:05:59.83183+00', timeline: 2 });
    expect(summarizeRecoveryLog('... FATAL:  recovery ended before configured recovery target was reached').fatal).toBe('recovery ended before configured recovery target was reached');
  });
});

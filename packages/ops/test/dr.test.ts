import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, exampleSecrets } from '@numbering/blueprint';
import { contextFrom, OpsError, type OpsIo } from '../src/context.js';
import { formatDrSummary, latestMariaDbBackup, remotePlatform, runDisasterRecovery, type DrPlatform } from '../src/commands/dr.js';

const lines: string[] = [];
const io: OpsIo = { out: (l) => lines.push(l), err: (l) => lines.push(l), confirm: async () => true, progress: (s, d) => lines.push(`${s}: ${d ?? ''}`) };
const ctx = contextFrom({ model: buildPlatform(defaultPlatformConfig('local')), secrets: exampleSecrets(), backupDir: '/nonexistent', io });

/** Records the order of everything dr does; `codes` fixes each command's exit code. */
function recorder(codes: Record<string, number> = {}, fail: Partial<Record<keyof DrPlatform, string>> = {}) {
  const calls: string[] = [];
  const act = (name: keyof DrPlatform, detail: string) => async () => {
    calls.push(name);
    if (fail[name]) throw new OpsError(fail[name]);
    return detail;
  };
  const platform: DrPlatform = {
    ensureRunning: async (store) => (calls.push(`ensureRunning ${store}`), 'running'),
    stopService: act('stopService', 'stopped'),
    startService: act('startService', 'started'),
    healthChecks: async () => (calls.push('healthChecks'), [{ name: 'nginx', ok: true, detail: 'ok' }]),
  };
  const runCommand = async (argv: string[]) => (calls.push(argv.join(' ')), codes[argv.slice(0, 2).join(' ')] ?? codes[argv[0]!] ?? 0);
  return { calls, platform, runCommand };
}

describe('ops dr order', () => {
  it('runs Redis, MariaDB, restore with the service stopped, integrity, service, health in that order', async () => {
    const r = recorder();
    const results = await runDisasterRecovery(ctx, { from: '/b/mariadb-x.sql.gz', ...r });
    expect(r.calls).toEqual(['ensureRunning redis', 'redis check', 'ensureRunning mariadb', 'stopService', 'restore mariadb /b/mariadb-x.sql.gz --yes', 'integrity', 'startService', 'healthChecks']);
    expect(results.map((x) => `${x.step}:${x.outcome}`)).toEqual(['redis:ok', 'database:ok', 'restore:ok', 'integrity:ok', 'service:ok', 'health:ok']);
    expect(formatDrSummary(results)).toContain('disaster recovery complete');
  });

  it('goes on without Redis (fallback mode) but never starts the service on a failed restore or a broken ledger', async () => {
    const redisDown = recorder({ 'redis check': 1 });
    const a = await runDisasterRecovery(ctx, redisDown);
    expect(a.find((x) => x.step === 'redis')?.outcome).toBe('warning');
    expect(a.find((x) => x.step === 'restore')?.outcome).toBe('skipped');
    expect(redisDown.calls).toContain('startService');

    const badRestore = recorder({ 'restore mariadb': 1 });
    const b = await runDisasterRecovery(ctx, { from: 'f.sql.gz', ...badRestore });
    expect(badRestore.calls).not.toContain('integrity');
    expect(badRestore.calls).not.toContain('startService');
    expect(b.map((x) => x.outcome)).toEqual(['ok', 'ok', 'failed', 'skipped', 'skipped', 'skipped']);
    expect(formatDrSummary(b)).toContain('stopped at restore');

    const broken = recorder({ integrity: 1 });
    await runDisasterRecovery(ctx, broken);
    expect(broken.calls).not.toContain('startService');
  });

  it('reports a platform failure as the step that failed, with its message', async () => {
    const r = recorder({}, { stopService: 'numbering-stable still answers' });
    const results = await runDisasterRecovery(ctx, { from: 'f.sql.gz', ...r });
    expect(results[2]).toMatchObject({ step: 'restore', outcome: 'failed', detail: 'numbering-stable still answers' });
    expect(r.calls).not.toContain('restore mariadb f.sql.gz --yes');
  });
});

describe('ops dr helpers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-dr-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--from latest picks the newest MariaDB dump of this database and ignores other files', () => {
    const at = contextFrom({ model: ctx.model, secrets: exampleSecrets(), backupDir: dir, io });
    expect(() => latestMariaDbBackup(at)).toThrow('no MariaDB backup in');
    for (const name of ['numbering-mariadb-20261120T000000.000Z.sql.gz', 'numbering-mariadb-20261122T000000.000Z.sql.gz', 'other-mariadb-20261123T000000.000Z.sql.gz', 'redis-20261123.tar', 'notes.sql.gz']) writeFileSync(join(dir, name), 'x');
    expect(latestMariaDbBackup(at)).toBe(join(dir, 'numbering-mariadb-20261122T000000.000Z.sql.gz'));
  });

  it('on Kubernetes refuses to restore while a release answers, and names the kubectl command', async () => {
    const k8s = contextFrom({ model: buildPlatform(defaultPlatformConfig('kubernetes')), secrets: exampleSecrets(), backupDir: '/b', io });
    // Nothing listens on the cluster names here, so every release counts as stopped and MariaDB as down.
    const platform = remotePlatform(k8s, { serviceWaitMs: 10, intervalMs: 5 });
    expect(await platform.stopService()).toBe('no release answers');
    await expect(platform.ensureRunning('mariadb')).rejects.toThrow(/does not accept connections.*kubectl -n numbering get pods mariadb-0/);
    await expect(platform.startService()).rejects.toThrow(/kubectl -n numbering scale deploy\/numbering-stable deploy\/numbering-canary --replicas=<N>/);
  });
});

import { buildPlatform, defaultPlatformConfig } from '@numbering/blueprint';
import { describe, expect, it } from 'vitest';
import { contextFrom, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { asideDirName, dcsKeysToRemove, dcsPrefix, patroniProgram, prefixRangeEnd, stopOrder } from '../src/pg-restore-in-place.js';

describe('in-place restore: pure parts', () => {
  it('finds Patroni keys under <namespace>/<scope>/ and their etcd range end', () => {
    expect(dcsPrefix('/service/', 'numbering-pg')).toBe('/service/numbering-pg/');
    expect(dcsPrefix('service', 'numbering-pg')).toBe('/service/numbering-pg/');
    expect(dcsPrefix('/', 'x')).toBe('/x/');
    expect(prefixRangeEnd('/service/numbering-pg/')).toBe('/service/numbering-pg0');
  });

  it('removes every key of the cluster except config, and nothing of another cluster', () => {
    const prefix = '/service/numbering-pg/';
    const keys = ['initialize', 'leader', 'config', 'members/pg-0', 'history', 'sync', 'status'].map((k) => prefix + k);
    expect(dcsKeysToRemove([...keys, '/service/numbering-pg2/leader'], prefix)).toEqual(keys.filter((k) => !k.endsWith('/config')));
  });

  it('keeps old data directories beside the new ones, named by the restore time', () => {
    expect(asideDirName('/w/postgres/pg-0/data/', Date.parse('2026-11-23T13:20:31.190Z'))).toBe('/w/postgres/pg-0/data.before-restore-20261123T132031Z');
    expect(patroniProgram({ name: 'pg-1' })).toBe('patroni-pg-1');
  });

  it('stops the replicas before the leader', () => {
    expect(stopOrder(['pg-0', 'pg-1', 'pg-2'], 'pg-1')).toEqual([['pg-0', 'pg-2'], ['pg-1']]);
    expect(stopOrder(['pg-0', 'pg-1'], undefined)).toEqual([['pg-0', 'pg-1']]);
  });
});

describe('ops restore postgres --in-place: refusals', () => {
  const lines = { out: [] as string[], err: [] as string[] };
  const io: OpsIo = { out: (l) => lines.out.push(l), err: (l) => lines.err.push(l), confirm: async () => true, progress: () => undefined };

  it('on another target points at the runbook and changes nothing', async () => {
    lines.err.length = 0;
    const model = buildPlatform(defaultPlatformConfig('kubernetes', {}));
    const ctx = { ...contextFrom({ model, secrets: {} as never, backupDir: '/nonexistent', io }), source: 'environment' as const, description: 'environment (kubernetes)' };
    const code = await main(['restore', 'postgres', '--to', '2020-01-01T00:00:00Z', '--in-place', '--yes'], io, { context: () => ctx });
    expect(code).toBe(1);
    expect(lines.err.join('\n')).toBe('ops restore postgres: --in-place is automated for the devstack only; environment (kubernetes) runs its members elsewhere: follow the runbook in packages/ops/README.md, "In-place cluster restore by hand"');
  });

  it('refuses options that only make sense for a restore into a new directory', async () => {
    lines.err.length = 0;
    const code = await main(['restore', 'postgres', '--to', '2020-01-01T00:00:00Z', '--in-place', '--target-dir', '/tmp/x'], io, { context: () => contextFrom({ model: buildPlatform(defaultPlatformConfig('local', {}), { workdir: '/tmp/x' }), secrets: {} as never, backupDir: '/tmp/x', io }) });
    expect(code).toBe(2);
    expect(lines.err.join('\n')).toContain("--in-place restores the members' own data directories; --target-dir do not apply");
  });
});

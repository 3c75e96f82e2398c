import { describe, expect, it } from 'vitest';
import { exampleSecrets, buildPlatform, defaultPlatformConfig } from '@numbering/blueprint';
import { UsageError, parseDuration, parsePositiveInt, type Command } from '../src/command.js';
import { contextFrom, createContext, OpsError, secretEnvName, type OpsIo } from '../src/context.js';
import { findCommand, main } from '../src/main.js';

function recorder() {
  const out: string[] = [];
  const err: string[] = [];
  const io: OpsIo = { out: (l) => out.push(l), err: (l) => err.push(l), confirm: async () => false, progress: () => undefined };
  return { io, out, err };
}

const calls: string[] = [];
const fake = (name: string, run: Command['run'] = async (_ctx, args) => (calls.push(`${name} ${args.positionals.join(' ')}`), 0)): Command => ({ name, summary: `does ${name}`, options: { 'keep-days': { type: 'string' } }, run });
const list = [fake('pg'), fake('pg status'), fake('backup mariadb'), fake('restore mariadb')];
const context = (opts: { io: OpsIo; assumeYes: boolean }) =>
  contextFrom({ model: buildPlatform(defaultPlatformConfig('local')), secrets: exampleSecrets(), backupDir: '/tmp/none', ...opts });

describe('ops command dispatch', () => {
  it('picks the longest matching command and passes the rest as arguments', async () => {
    expect(findCommand(['pg', 'status', '--yes'], list)?.command.name).toBe('pg status');
    expect(findCommand(['--yes', 'restore', 'mariadb', 'a.sql.gz'], list)?.rest).toEqual(['--yes', 'a.sql.gz']);
    calls.length = 0;
    const r = recorder();
    expect(await main(['restore', 'mariadb', 'dump.sql.gz', '-y'], r.io, { commands: list, context })).toBe(0);
    expect(calls).toEqual(['restore mariadb dump.sql.gz']);
  });

  it('prints usage with exit 0 for help and exit 2 for an unknown command or option', async () => {
    const help = recorder();
    expect(await main(['help'], help.io, { commands: list, context })).toBe(0);
    expect(help.out.join('\n')).toContain('backup mariadb');
    const unknown = recorder();
    expect(await main(['backup', 'oracle'], unknown.io, { commands: list, context })).toBe(2);
    expect(unknown.err.join('\n')).toContain('unknown command "backup oracle"');
    const badOption = recorder();
    expect(await main(['backup', 'mariadb', '--keep-dayz', '3'], badOption.io, { commands: list, context })).toBe(2);
    expect(badOption.err.join('\n')).toContain("Unknown option '--keep-dayz'");
  });

  it('turns OpsError into exit 1 with the message and UsageError into exit 2', async () => {
    const failing = [fake('integrity', async () => { throw new OpsError('2 duplicates in COR-2026'); }), fake('sequences', async () => { throw new UsageError('--days must be positive'); })];
    const a = recorder();
    expect(await main(['integrity'], a.io, { commands: failing, context })).toBe(1);
    expect(a.err).toEqual(['ops integrity: 2 duplicates in COR-2026']);
    const b = recorder();
    expect(await main(['sequences'], b.io, { commands: failing, context })).toBe(2);
    expect(b.err[0]).toContain('--days must be positive');
  });
});

describe('ops context', () => {
  it('names each secret variable of the environment source', () => {
    expect(secretEnvName('mariadb.backup')).toBe('OPS_SECRET_MARIADB_BACKUP');
    expect(secretEnvName('service.adminToken')).toBe('OPS_SECRET_SERVICE_ADMIN_TOKEN');
  });

  it('builds the kubernetes model from OPS_PLATFORM_CONFIG and reports what is missing', () => {
    const { io } = recorder();
    const env = { OPS_SOURCE: 'environment', OPS_PLATFORM_CONFIG: JSON.stringify({ namespace: 'numbering' }), OPS_BACKUP_DIR: '/backups', OPS_SECRET_MARIADB_BACKUP: 's3cret' };
    const ctx = createContext({ io, env });
    expect(ctx.source).toBe('environment');
    expect(ctx.model.target).toBe('kubernetes');
    expect(ctx.secret('mariadb.backup')).toBe('s3cret');
    expect(() => ctx.secret('redis.admin')).toThrow('OPS_SECRET_REDIS_ADMIN is not set');
    expect(() => createContext({ io, env: { OPS_SOURCE: 'environment' } })).toThrow(/OPS_PLATFORM_CONFIG/);
    expect(() => createContext({ io, env: { OPS_SOURCE: 'environment', OPS_PLATFORM_CONFIG: '{nope', OPS_BACKUP_DIR: '/b' } })).toThrow('OPS_PLATFORM_CONFIG is not JSON');
    expect(() => createContext({ io, env: { OPS_SOURCE: 'cloud' } })).toThrow('OPS_SOURCE must be devstack or environment');
  });

  it('parses durations and counts with errors that name the option', () => {
    expect(parseDuration('2y', '--older-than')).toBe(2 * 365 * 86_400_000);
    expect(parseDuration('14d', '--keep')).toBe(14 * 86_400_000);
    expect(() => parseDuration('2 years', '--older-than')).toThrow('--older-than must be a number and a unit');
    expect(parsePositiveInt(undefined, '--keep-days', 14)).toBe(14);
    expect(() => parsePositiveInt('0', '--keep-days')).toThrow('--keep-days must be a positive integer');
  });
});

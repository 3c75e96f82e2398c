import { describe, expect, it } from 'vitest';
import { parsePgbackrestIni } from './support/tools.js';
import { parse } from 'yaml';
import {
  ARCHIVE_TIMEOUT,
  buildPlatform,
  defaultPlatformConfig,
  exampleSecrets,
  pgbackrestArchiveCommand,
  pgbackrestStanza,
  renderPatroniConfig,
  renderPgbackrestConf,
  type PgbackrestLayout,
} from '../src/index.js';

const model = buildPlatform(defaultPlatformConfig('local', { 'local.portOffset': 100 }), { workdir: '/srv/devstack' });
const layout: PgbackrestLayout = {
  configFile: '/srv/devstack/pgbackrest/pgbackrest.conf',
  repoPath: '/srv/devstack/pgbackrest/repo',
  logPath: '/srv/devstack/pgbackrest/log',
  lockPath: '/srv/devstack/pgbackrest/lock',
  spoolPath: '/srv/devstack/pgbackrest/spool',
};

describe('renderPgbackrestConf', () => {
  it('puts the repository, retention and per-stack lock/log paths in [global]', () => {
    const conf = parsePgbackrestIni(renderPgbackrestConf(model, layout));
    expect(conf.global).toEqual({
      'repo1-path': layout.repoPath,
      'repo1-retention-full': '2',
      'log-path': layout.logPath,
      'lock-path': layout.lockPath,
      'spool-path': layout.spoolPath,
      'compress-type': 'lz4',
      'archive-timeout': '60',
      'start-fast': 'y',
      'log-level-console': 'info',
      'log-level-file': 'detail',
    });
    expect(parsePgbackrestIni(renderPgbackrestConf(model, layout, { retentionFull: 7, compressType: 'zst', archiveTimeoutSeconds: 30 })).global).toMatchObject({ 'repo1-retention-full': '7', 'compress-type': 'zst', 'archive-timeout': '30' });
  });

  it('names the stanza after the Patroni scope and lists every member as pgN (data dir, port, socket)', () => {
    const conf = parsePgbackrestIni(renderPgbackrestConf(model, layout));
    expect(pgbackrestStanza(model)).toBe('numbering-pg');
    expect(Object.keys(conf)).toEqual(['global', 'numbering-pg']);
    const members = model.postgres.members;
    expect(conf['numbering-pg']).toEqual(
      Object.fromEntries(
        members.flatMap((m, i) => [
          [`pg${i + 1}-path`, m.dataDir],
          [`pg${i + 1}-port`, String(m.pgPort)],
          [`pg${i + 1}-socket-path`, m.socketDir],
        ]),
      ),
    );
    expect(conf['numbering-pg']!['pg1-port']).toBe(String(5441 + 100));
  });

  it('refuses what it cannot write: multi-line paths, a zero retention, container targets', () => {
    expect(() => renderPgbackrestConf(model, { ...layout, repoPath: '/srv/x\nrepo1-path=/elsewhere' })).toThrow(/repo1-path: .* must be a non-empty single line/);
    expect(() => renderPgbackrestConf(model, layout, { retentionFull: 0, compressType: 'lz4', archiveTimeoutSeconds: 60 })).toThrow(/retentionFull: must be a positive integer/);
    const k8s = buildPlatform(defaultPlatformConfig('kubernetes'));
    expect(() => renderPgbackrestConf(k8s, layout)).toThrow(/only the devstack .* target kubernetes is not modelled/);
  });
});

describe('pgbackrestArchiveCommand', () => {
  it("pushes from the member's own data dir (pgbackrest checks it is PostgreSQL's working directory)", () => {
    const m = model.postgres.members[2]!;
    expect(pgbackrestArchiveCommand(model, m, layout)).toBe(`pgbackrest --config=${layout.configFile} --stanza=numbering-pg --pg1-path=${m.dataDir} archive-push %p`);
    expect(() => pgbackrestArchiveCommand(model, { ...m, name: 'pg-9' }, layout)).toThrow(/pg-9 is not a member/);
  });

  it('quotes paths for the shell PostgreSQL runs it with', () => {
    const spaced = buildPlatform(defaultPlatformConfig('local'), { workdir: "/srv/dev stack/it's" });
    const cmd = pgbackrestArchiveCommand(spaced, spaced.postgres.members[0]!, { ...layout, configFile: '/srv/dev stack/pgbackrest.conf' });
    expect(cmd).toBe(`pgbackrest '--config=/srv/dev stack/pgbackrest.conf' --stanza=numbering-pg '--pg1-path=/srv/dev stack/it'\\''s/postgres/pg-0/data' archive-push %p`);
  });

  it('goes into patroni.yml as archive_mode on + archive_command + archive_timeout, only when given', () => {
    const m = model.postgres.members[1]!;
    const parsed = (opts = {}) => parse(renderPatroniConfig(model, m, exampleSecrets(), opts), { version: '1.1' }) as { postgresql: { parameters: Record<string, unknown> }; bootstrap: { dcs: { postgresql: { parameters: Record<string, unknown> } } } };
    expect(parsed().postgresql.parameters).toEqual({ unix_socket_directories: m.socketDir });
    const archiveCommand = pgbackrestArchiveCommand(model, m, layout);
    const cfg = parsed({ archiveCommand });
    expect(cfg.postgresql.parameters).toEqual({ unix_socket_directories: m.socketDir, archive_mode: 'on', archive_command: archiveCommand, archive_timeout: ARCHIVE_TIMEOUT });
    // Cluster-wide settings stay in the DCS; the per-member command does not belong there.
    expect(cfg.bootstrap.dcs.postgresql.parameters.archive_command).toBeUndefined();
    expect(renderPatroniConfig(model, m, exampleSecrets(), { archiveCommand })).toMatch(/archive_mode: "on"/);
  });
});

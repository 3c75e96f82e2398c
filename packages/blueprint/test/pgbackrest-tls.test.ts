import { describe, expect, it } from 'vitest';
import { parsePgbackrestIni } from './support/tools.js';
import {
  buildPlatform,
  defaultPlatformConfig,
  pgbackrestTlsArchiveCommand,
  renderPgbackrestMemberConf,
  renderPgbackrestRepoHostConf,
  type PgbackrestTlsHostLayout,
  type PgbackrestTlsOptions,
} from '../src/index.js';

const k8s = buildPlatform(defaultPlatformConfig('kubernetes'));

/** The paths a pod sees: the same in the repository host's and every member's pod. */
const podLayout: PgbackrestTlsHostLayout = {
  configFile: '/etc/pgbackrest/pgbackrest.conf',
  logPath: '/var/log/pgbackrest',
  lockPath: '/tmp/pgbackrest',
  spoolPath: '/var/spool/pgbackrest',
  certs: {
    caFile: '/etc/pgbackrest/tls/ca.crt',
    serverCertFile: '/etc/pgbackrest/tls/server.crt',
    serverKeyFile: '/etc/pgbackrest/tls/server.key',
    clientCertFile: '/etc/pgbackrest/tls/client.crt',
    clientKeyFile: '/etc/pgbackrest/tls/client.key',
  },
};
const opts: PgbackrestTlsOptions = { repoHost: { ...podLayout, repoPath: '/pgbackrest/repo' }, member: () => podLayout };

const tlsServer = (auth: string) => ({
  'tls-server-address': '*',
  'tls-server-port': '8432',
  'tls-server-cert-file': '/etc/pgbackrest/tls/server.crt',
  'tls-server-key-file': '/etc/pgbackrest/tls/server.key',
  'tls-server-ca-file': '/etc/pgbackrest/tls/ca.crt',
  'tls-server-auth': auth,
});

const housekeeping = {
  'log-path': '/var/log/pgbackrest',
  'lock-path': '/tmp/pgbackrest',
  'spool-path': '/var/spool/pgbackrest',
  'compress-type': 'lz4',
  'archive-timeout': '60',
  'log-level-console': 'info',
  'log-level-file': 'detail',
};

describe('the model for the TLS layout', () => {
  it('names the repository host like the other StatefulSet pods, with pgBackRest default TLS port', () => {
    expect(k8s.postgres.pgbackrest).toEqual({ repoHost: 'pgbackrest-0.pgbackrest.numbering.svc.cluster.local', tlsPort: 8432 });
    expect(buildPlatform(defaultPlatformConfig('docker')).postgres.pgbackrest).toEqual({ repoHost: 'pgbackrest-0', tlsPort: 8432 });
  });
});

describe('renderPgbackrestRepoHostConf', () => {
  it('holds the repository and retention, runs a TLS server for the members, and reaches every member over TLS', () => {
    const conf = parsePgbackrestIni(renderPgbackrestRepoHostConf(k8s, opts));
    expect(Object.keys(conf)).toEqual(['global', 'numbering-pg']);
    expect(conf.global).toEqual({
      'repo1-path': '/pgbackrest/repo',
      'repo1-retention-full': '2',
      ...housekeeping,
      'start-fast': 'y',
      ...tlsServer('pgbackrest-postgres=numbering-pg'),
    });
    expect(conf['numbering-pg']).toEqual(
      Object.fromEntries(
        [0, 1, 2].flatMap((i) => [
          [`pg${i + 1}-host`, `postgres-${i}.postgres.numbering.svc.cluster.local`],
          [`pg${i + 1}-host-type`, 'tls'],
          [`pg${i + 1}-host-port`, '8432'],
          [`pg${i + 1}-host-ca-file`, '/etc/pgbackrest/tls/ca.crt'],
          [`pg${i + 1}-host-cert-file`, '/etc/pgbackrest/tls/client.crt'],
          [`pg${i + 1}-host-key-file`, '/etc/pgbackrest/tls/client.key'],
          [`pg${i + 1}-host-config`, '/etc/pgbackrest/pgbackrest.conf'],
          [`pg${i + 1}-path`, '/home/postgres/pgdata/pgroot/data'],
          [`pg${i + 1}-port`, '5432'],
          [`pg${i + 1}-socket-path`, '/var/run/postgresql'],
        ]),
      ),
    );
  });

  it('takes endpoints, CNs, listen address and settings from the options', () => {
    const members = Object.fromEntries(k8s.postgres.members.map((m, i) => [m.name, { host: '127.0.0.1', port: 9001 + i }]));
    const conf = parsePgbackrestIni(
      renderPgbackrestRepoHostConf(k8s, {
        ...opts,
        endpoints: { repoHost: { host: '127.0.0.1', port: 9000 }, members },
        memberClientCn: 'pg-client',
        listenAddress: '127.0.0.1',
        settings: { retentionFull: 7, compressType: 'zst', archiveTimeoutSeconds: 30 },
      }),
    );
    expect(conf.global).toMatchObject({ 'tls-server-address': '127.0.0.1', 'tls-server-port': '9000', 'tls-server-auth': 'pg-client=numbering-pg', 'repo1-retention-full': '7', 'compress-type': 'zst', 'archive-timeout': '30' });
    expect(conf['numbering-pg']).toMatchObject({ 'pg1-host': '127.0.0.1', 'pg1-host-port': '9001', 'pg3-host-port': '9003' });
  });
});

describe('renderPgbackrestMemberConf', () => {
  it('has its own data dir as pg1, the repository host as repo1 over TLS, and a TLS server admitting the repository host', () => {
    const m = k8s.postgres.members[1]!;
    const conf = parsePgbackrestIni(renderPgbackrestMemberConf(k8s, m, opts));
    expect(conf.global).toEqual({
      'repo1-host': 'pgbackrest-0.pgbackrest.numbering.svc.cluster.local',
      'repo1-host-type': 'tls',
      'repo1-host-port': '8432',
      'repo1-host-ca-file': '/etc/pgbackrest/tls/ca.crt',
      'repo1-host-cert-file': '/etc/pgbackrest/tls/client.crt',
      'repo1-host-key-file': '/etc/pgbackrest/tls/client.key',
      'repo1-host-config': '/etc/pgbackrest/pgbackrest.conf',
      ...housekeeping,
      ...tlsServer('pgbackrest-repo=numbering-pg'),
    });
    expect(conf['numbering-pg']).toEqual({ 'pg1-path': m.dataDir, 'pg1-port': '5432', 'pg1-socket-path': '/var/run/postgresql' });
    expect(renderPgbackrestMemberConf(k8s, m, opts)).toMatch(/^# generated from the platform model \(kubernetes\), member postgres-1; do not edit\n/);
  });

  it("uses each member's own layout and endpoint when members share a machine", () => {
    const local = buildPlatform(defaultPlatformConfig('local'), { workdir: '/srv/devstack' });
    const members = Object.fromEntries(local.postgres.members.map((m, i) => [m.name, { host: '127.0.0.1', port: 9001 + i }]));
    const perMember: PgbackrestTlsOptions = {
      ...opts,
      member: (m) => ({ ...podLayout, configFile: `/srv/devstack/pgbackrest/${m.name}/pgbackrest.conf` }),
      endpoints: { repoHost: { host: '127.0.0.1', port: 9000 }, members },
      listenAddress: '127.0.0.1',
    };
    const m = local.postgres.members[2]!;
    expect(parsePgbackrestIni(renderPgbackrestMemberConf(local, m, perMember)).global).toMatchObject({ 'repo1-host': '127.0.0.1', 'repo1-host-port': '9000', 'tls-server-port': '9003' });
    expect(parsePgbackrestIni(renderPgbackrestRepoHostConf(local, perMember))['numbering-pg']).toMatchObject({ 'pg3-host-config': '/srv/devstack/pgbackrest/pg-2/pgbackrest.conf', 'pg3-path': m.dataDir, 'pg3-port': String(m.pgPort) });
  });
});

describe('pgbackrestTlsArchiveCommand', () => {
  it("pushes with the member's own config, whose repo1 is the repository host", () => {
    expect(pgbackrestTlsArchiveCommand(k8s, k8s.postgres.members[0]!, opts)).toBe('pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=numbering-pg archive-push %p');
    expect(pgbackrestTlsArchiveCommand(k8s, k8s.postgres.members[0]!, { member: () => ({ ...podLayout, configFile: "/etc/pg backrest/it's.conf" }) })).toBe(
      `pgbackrest '--config=/etc/pg backrest/it'\\''s.conf' --stanza=numbering-pg archive-push %p`,
    );
  });
});

describe('what the TLS renderers refuse', () => {
  it('two servers on one host:port (the devstack model without endpoints), a member without endpoint', () => {
    const local = buildPlatform(defaultPlatformConfig('local'), { workdir: '/srv/devstack' });
    expect(() => renderPgbackrestRepoHostConf(local, opts)).toThrow(/the repository host and pg-0 would both run their TLS server at 127\.0\.0\.1:8432; give distinct endpoints/);
    expect(() => renderPgbackrestMemberConf(k8s, k8s.postgres.members[0]!, { ...opts, endpoints: { repoHost: { host: 'r', port: 1 }, members: {} } })).toThrow(/no TLS endpoint given for member postgres-0/);
    const members = Object.fromEntries(k8s.postgres.members.map((m) => [m.name, { host: m.host, port: 8432 }]));
    expect(() => renderPgbackrestRepoHostConf(k8s, { ...opts, endpoints: { repoHost: { host: 'r', port: 70_000 }, members } })).toThrow(/TLS port of the repository host must be 1\.\.65535/);
  });

  it('CNs that would change tls-server-auth, one CN for both sides, multi-line paths, zero retention, strangers', () => {
    expect(() => renderPgbackrestRepoHostConf(k8s, { ...opts, memberClientCn: 'pg=*' })).toThrow(/memberClientCn: "pg=\*" must be letters/);
    expect(() => renderPgbackrestRepoHostConf(k8s, { ...opts, repoClientCn: 'same', memberClientCn: 'same' })).toThrow(/need different client CNs/);
    expect(() => renderPgbackrestRepoHostConf(k8s, { ...opts, repoHost: { ...opts.repoHost, repoPath: '/x\nrepo1-path=/y' } })).toThrow(/repo1-path: .* must be a non-empty single line/);
    expect(() => renderPgbackrestRepoHostConf(k8s, { ...opts, settings: { retentionFull: 0, compressType: 'lz4', archiveTimeoutSeconds: 60 } })).toThrow(/retentionFull: must be a positive integer/);
    const stranger = { ...k8s.postgres.members[0]!, name: 'postgres-9' };
    expect(() => renderPgbackrestMemberConf(k8s, stranger, opts)).toThrow(/postgres-9 is not a member of numbering-pg/);
    expect(() => pgbackrestTlsArchiveCommand(k8s, stranger, opts)).toThrow(/postgres-9 is not a member/);
  });
});

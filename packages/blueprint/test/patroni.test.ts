import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  buildPlatform,
  defaultPlatformConfig,
  exampleSecrets,
  POSTGRES_ROLES,
  renderPatroniConfig,
  renderPostgresBootstrapSql,
  type PlatformModel,
  type Target,
} from '../src/index.js';

const model = (target: Target, overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig(target, overrides), { workdir: '/srv/devstack' });
// The tests walk the parsed file at any depth; a typed shape would just restate the renderer.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ParsedYaml = Record<string, any>;
// PyYAML (what Patroni uses) reads YAML 1.1: parse the same way, so `on`/`off` surprises show up here.
const render = (m: PlatformModel, i = 0, opts = {}) => parse(renderPatroniConfig(m, m.postgres.members[i]!, exampleSecrets(), opts), { version: '1.1' }) as ParsedYaml;

describe('renderPatroniConfig', () => {
  it('renders a local member: loopback addresses, etcd3 DCS, paths from the model', () => {
    const m = model('local');
    const member = m.postgres.members[1]!;
    const cfg = render(m, 1);
    expect(cfg).toMatchObject({ scope: 'numbering-pg', namespace: '/service/', name: member.name });
    expect(cfg.restapi).toMatchObject({ listen: `127.0.0.1:${member.restPort}`, connect_address: `127.0.0.1:${member.restPort}` });
    expect(cfg.etcd3).toEqual({ hosts: [`127.0.0.1:${m.postgres.dcs.kind === 'etcd3' ? m.postgres.dcs.hosts[0]!.port : 0}`] });
    expect(cfg.kubernetes).toBeUndefined();
    expect(cfg.postgresql).toMatchObject({
      listen: `127.0.0.1:${member.pgPort}`,
      connect_address: `127.0.0.1:${member.pgPort}`,
      data_dir: member.dataDir,
      bin_dir: m.postgres.binDir,
      pgpass: member.pgpass,
      parameters: { unix_socket_directories: member.socketDir },
    });
    expect(cfg.log).toEqual({ level: 'INFO', dir: member.logDir });
  });

  it('puts the tuned timings and cluster-wide parameters into bootstrap.dcs', () => {
    const cfg = render(model('local', { 'postgres.ttl': 20, 'postgres.loopWait': 3, 'postgres.retryTimeout': 8, 'postgres.synchronousMode': false, 'postgres.failsafeMode': false, 'postgres.maxConnections': 250, 'postgres.sharedBuffers': '64MB' }));
    expect(cfg.bootstrap.dcs).toMatchObject({ ttl: 20, loop_wait: 3, retry_timeout: 8, maximum_lag_on_failover: 1_048_576, synchronous_mode: false, failsafe_mode: false });
    expect(cfg.bootstrap.dcs.postgresql).toMatchObject({ use_pg_rewind: true, use_slots: true });
    expect(cfg.bootstrap.dcs.postgresql.parameters).toMatchObject({
      wal_level: 'replica',
      hot_standby: 'on',
      wal_log_hints: 'on',
      max_connections: 250,
      shared_buffers: '64MB',
      wal_keep_size: '128MB',
    });
    expect(cfg.bootstrap.dcs.postgresql.parameters.max_wal_senders).toBeGreaterThanOrEqual(3);
    expect(cfg.bootstrap.dcs.postgresql.parameters.max_replication_slots).toBeGreaterThanOrEqual(3);
    expect(cfg.bootstrap.initdb).toEqual(expect.arrayContaining([{ encoding: 'UTF8' }, 'data-checksums']));
    expect(cfg.watchdog).toEqual({ mode: 'off' });
    expect(cfg.tags).toEqual({ nofailover: false, noloadbalance: false, clonefrom: false, nosync: false });
  });

  it('keeps on/off strings as strings for PyYAML', () => {
    const text = renderPatroniConfig(model('local'), model('local').postgres.members[0]!, exampleSecrets());
    expect(text).toMatch(/hot_standby: "on"/);
    expect(text).toMatch(/mode: "off"/);
    expect(text).not.toMatch(/[&*]a\d/); // no YAML anchors/aliases
  });

  it('authenticates superuser, replication and rewind users, and the REST API unsafe endpoints', () => {
    const s = exampleSecrets();
    const cfg = render(model('local'));
    expect(cfg.postgresql.authentication).toEqual({
      superuser: { username: POSTGRES_ROLES.superuser, password: s.postgres.superuser },
      replication: { username: POSTGRES_ROLES.replication, password: s.postgres.replication },
      rewind: { username: POSTGRES_ROLES.rewind, password: s.postgres.rewind },
    });
    expect(cfg.restapi.authentication).toEqual({ username: 'patroni', password: s.postgres.superuser });
  });

  it('allows replication and clients only from loopback on the devstack, always with SCRAM', () => {
    const cfg = render(model('local'));
    expect(cfg.postgresql.pg_hba).toEqual([
      'local all all peer',
      `host replication ${POSTGRES_ROLES.replication} 127.0.0.1/32 scram-sha-256`,
      'host all all 127.0.0.1/32 scram-sha-256',
    ]);
    expect(cfg.bootstrap.pg_hba).toEqual(cfg.postgresql.pg_hba);
    for (const line of cfg.postgresql.pg_hba as string[]) expect(line).not.toMatch(/trust|md5|0\.0\.0\.0\/0/);
  });

  it('listens on all interfaces in containers and advertises the stable member name', () => {
    const m = model('docker');
    const cfg = render(m, 2);
    const member = m.postgres.members[2]!;
    expect(cfg.postgresql).toMatchObject({ listen: '0.0.0.0:5432', connect_address: `${member.host}:5432` });
    expect(cfg.restapi).toMatchObject({ listen: '0.0.0.0:8008', connect_address: `${member.host}:8008` });
    expect(cfg.etcd3.hosts).toEqual(['etcd-0:2379', 'etcd-1:2379', 'etcd-2:2379']);
    expect(cfg.log).toEqual({ level: 'INFO' }); // stderr
    expect(cfg.postgresql.pg_hba).toContain('host all all samenet scram-sha-256');
    expect(cfg.postgresql.pg_hba).toContain(`host replication ${POSTGRES_ROLES.replication} samenet scram-sha-256`);
  });

  it('uses the Kubernetes API as DCS on kubernetes (endpoints, labels, pod IP from the environment)', () => {
    const m = model('kubernetes');
    const cfg = render(m);
    expect(cfg.etcd3).toBeUndefined();
    expect(cfg.kubernetes).toEqual({
      namespace: 'numbering',
      labels: { 'app.kubernetes.io/name': 'postgres', cluster: 'numbering-pg' },
      use_endpoints: true,
      ports: [{ name: 'postgresql', port: 5432 }],
    });
    expect(cfg.kubernetes.pod_ip).toBeUndefined(); // PATRONI_KUBERNETES_POD_IP
    expect(cfg.postgresql.pg_hba).toEqual(expect.arrayContaining(['host all all 10.0.0.0/8 scram-sha-256']));
    expect(cfg.postgresql.pg_hba).not.toContain('host all all samenet scram-sha-256');
  });

  it('runs the bootstrap SQL through psql after initdb when its path is given', () => {
    const m = model('local');
    expect(render(m).bootstrap.post_bootstrap).toBeUndefined();
    const cfg = render(m, 0, { postBootstrapSqlFile: '/srv/devstack/postgres/bootstrap.sql' });
    expect(cfg.bootstrap.post_bootstrap).toBe(`${m.postgres.binDir}/psql -X -q -v ON_ERROR_STOP=1 -f /srv/devstack/postgres/bootstrap.sql`);
    expect(cfg.bootstrap.users).toBeUndefined(); // deprecated in Patroni 3
  });

  it('refuses timings that break loop_wait + 2*retry_timeout <= ttl, naming the key', () => {
    const m = model('local');
    const broken: PlatformModel = { ...m, postgres: { ...m.postgres, config: { ...m.postgres.config, ttl: 10, loopWait: 2, retryTimeout: 5 } } };
    expect(() => renderPatroniConfig(broken, broken.postgres.members[0]!, exampleSecrets())).toThrow(/postgres\.ttl: .*2 \+ 2\*5 = 12 > 10/);
  });

  it('refuses a member that is not in the model and empty passwords', () => {
    const m = model('local');
    const stranger = { ...m.postgres.members[0]!, name: 'pg-9' };
    expect(() => renderPatroniConfig(m, stranger, exampleSecrets())).toThrow(/pg-9/);
    const s = exampleSecrets();
    s.postgres.rewind = '';
    expect(() => renderPatroniConfig(m, m.postgres.members[0]!, s)).toThrow(/secrets\.postgres\.rewind/);
  });

  it('quotes passwords that YAML would misread', () => {
    const m = model('local');
    const s = exampleSecrets();
    s.postgres.superuser = "yes: #not-a-comment 'x\" on";
    const cfg = parse(renderPatroniConfig(m, m.postgres.members[0]!, s), { version: '1.1' }) as ParsedYaml;
    expect(cfg.postgresql.authentication.superuser.password).toBe(s.postgres.superuser);
  });
});

describe('renderPostgresBootstrapSql', () => {
  it('creates or updates the app role and creates its database only when missing', () => {
    const m = model('local', { 'postgres.appUser': 'svc', 'postgres.database': 'numbers' });
    const s = exampleSecrets();
    s.postgres.app = "it's";
    const sql = renderPostgresBootstrapSql(m, s);
    expect(sql).toContain(`CREATE ROLE "svc" WITH LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD 'it''s';`);
    expect(sql).toContain(`ALTER ROLE "svc" WITH LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD 'it''s';`);
    expect(sql).toMatch(/SELECT 'CREATE DATABASE "numbers" OWNER "svc" ENCODING ''UTF8''' WHERE NOT EXISTS \(SELECT FROM pg_catalog\.pg_database WHERE datname = 'numbers'\)\\gexec/);
    expect(sql).toContain('REVOKE ALL ON DATABASE "numbers" FROM PUBLIC;');
    // The password must not end up in the server log.
    expect(sql.indexOf('SET log_statement = none')).toBeLessThan(sql.indexOf('PASSWORD'));
  });
});

import { describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, exampleSecrets, renderPgbouncerIni, renderPgbouncerUserlist, type Target } from '../src/index.js';

const model = (target: Target, overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig(target, overrides), { workdir: '/srv/devstack' });

/** key -> value of one ini section. */
function ini(text: string, sectionName: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    if (current !== sectionName) continue;
    const eq = line.indexOf('=');
    out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

describe('renderPgbouncerIni', () => {
  it('points the app database at HAProxy primary and <db>_ro at the replicas', () => {
    const m = model('local', { 'local.portOffset': 500, 'postgres.database': 'numbers' });
    const dbs = ini(renderPgbouncerIni(m), 'databases');
    expect(Object.fromEntries(dbs)).toEqual({
      numbers: `host=127.0.0.1 port=${m.postgres.haproxy.primaryPort} dbname=numbers`,
      numbers_ro: `host=127.0.0.1 port=${m.postgres.haproxy.replicaPort} dbname=numbers`,
    });
  });

  it('takes pooling from the config and retries server logins after 1 s', () => {
    const m = model('local', { 'postgres.pgbouncerPoolMode': 'session', 'postgres.pgbouncerDefaultPoolSize': 7, 'postgres.pgbouncerMaxClientConn': 321 });
    const s = ini(renderPgbouncerIni(m), 'pgbouncer');
    expect(s.get('pool_mode')).toBe('session');
    expect(s.get('default_pool_size')).toBe('7');
    expect(s.get('max_client_conn')).toBe('321');
    expect(s.get('server_login_retry')).toBe('1');
    expect(s.get('server_connect_timeout')).toBe('2');
    expect(s.get('auth_type')).toBe('scram-sha-256');
    expect(s.get('auth_file')).toBe(m.postgres.pgbouncer.authFile);
    expect(s.get('admin_users')).toBe('postgres');
  });

  it('listens on loopback without a unix socket and logs to its own file on the devstack', () => {
    const m = model('local');
    const s = ini(renderPgbouncerIni(m), 'pgbouncer');
    expect(s.get('listen_addr')).toBe('127.0.0.1');
    expect(s.get('listen_port')).toBe(String(m.postgres.pgbouncer.port));
    expect(s.get('unix_socket_dir')).toBe('');
    expect(s.get('logfile')).toBe(m.postgres.pgbouncer.logfile);
    expect(s.get('pidfile')).toBe(m.postgres.pgbouncer.pidfile);
  });

  it('listens on all interfaces and logs to stderr in containers, reaching HAProxy by its service name', () => {
    const m = model('kubernetes');
    const text = renderPgbouncerIni(m);
    const s = ini(text, 'pgbouncer');
    expect(s.get('listen_addr')).toBe('0.0.0.0');
    expect(s.has('logfile')).toBe(false);
    expect(s.has('pidfile')).toBe(false);
    expect(s.has('unix_socket_dir')).toBe(false);
    expect(ini(text, 'databases').get('numbering')).toBe('host=haproxy.numbering.svc.cluster.local port=5000 dbname=numbering');
  });
});

describe('renderPgbouncerUserlist', () => {
  it('lists the app user and the admin, escaping double quotes by doubling them', () => {
    const s = exampleSecrets();
    s.postgres.app = 'a"b';
    expect(renderPgbouncerUserlist(model('local'), s)).toBe(`"app" "a""b"\n"postgres" "${s.postgres.superuser}"\n`);
  });

  it('refuses passwords it cannot represent', () => {
    const s = exampleSecrets();
    s.postgres.app = 'line\nbreak';
    expect(() => renderPgbouncerUserlist(model('local'), s)).toThrow(/app/);
    s.postgres.app = '';
    expect(() => renderPgbouncerUserlist(model('local'), s)).toThrow(/empty password for app/);
  });
});

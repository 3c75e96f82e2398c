import { describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, renderHaproxyConfig, type Target } from '../src/index.js';

const model = (target: Target, overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig(target, overrides), { workdir: '/srv/devstack' });

/** The lines of one `listen` section. */
function section(cfg: string, name: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(`listen ${name}`);
  if (start < 0) throw new Error(`no listen ${name}`);
  const end = lines.findIndex((l, i) => i > start && /^\S/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim()).filter(Boolean);
}

describe('renderHaproxyConfig', () => {
  it('routes the primary port to the member whose Patroni says /primary, one server per member', () => {
    const m = model('local', { 'local.portOffset': 300 });
    const primary = section(renderHaproxyConfig(m), 'primary');
    expect(primary).toContain(`bind 127.0.0.1:${m.postgres.haproxy.primaryPort}`);
    expect(primary).toContain('option httpchk');
    expect(primary).toContain('http-check send meth HEAD uri /primary');
    expect(primary).toContain('http-check expect status 200');
    expect(primary.find((l) => l.startsWith('default-server'))).toMatch(/inter 1s .*fall 2 rise 1 on-marked-down shutdown-sessions/);
    const servers = primary.filter((l) => l.startsWith('server '));
    expect(servers).toEqual(m.postgres.members.map((p) => `server ${p.name} 127.0.0.1:${p.pgPort} maxconn 100 check port ${p.restPort}`));
  });

  it('balances the replicas port round-robin over members Patroni calls /replica', () => {
    const m = model('local', { 'postgres.members': 5 });
    const replicas = section(renderHaproxyConfig(m), 'replicas');
    expect(replicas).toContain(`bind 127.0.0.1:${m.postgres.haproxy.replicaPort}`);
    expect(replicas).toContain('balance roundrobin');
    expect(replicas).toContain('http-check send meth HEAD uri /replica');
    expect(replicas.filter((l) => l.startsWith('server '))).toHaveLength(5);
  });

  it('serves stats (HTML, CSV, Prometheus) on the stats port', () => {
    const m = model('local');
    const stats = section(renderHaproxyConfig(m), 'stats');
    expect(stats).toEqual(expect.arrayContaining(['mode http', `bind 127.0.0.1:${m.postgres.haproxy.statsPort}`, 'stats enable', 'stats uri /']));
    expect(stats.join('\n')).toContain('prometheus-exporter');
  });

  it('binds all interfaces in containers and resolves member names at run time', () => {
    for (const target of ['docker', 'kubernetes'] as const) {
      const m = model(target);
      const cfg = renderHaproxyConfig(m);
      expect(section(cfg, 'primary')).toContain('bind 0.0.0.0:5000');
      expect(section(cfg, 'replicas')).toContain('bind 0.0.0.0:5001');
      expect(section(cfg, 'stats')).toContain('bind 0.0.0.0:7000');
      expect(cfg).toMatch(/^resolvers dns\n {4}parse-resolv-conf/m);
      for (const p of m.postgres.members) expect(cfg).toContain(`server ${p.name} ${p.host}:5432 maxconn 100 check port 8008 resolvers dns init-addr last,libc,none`);
    }
    expect(renderHaproxyConfig(model('local'))).not.toContain('resolvers');
  });

  it('sizes maxconn from max_connections', () => {
    const cfg = renderHaproxyConfig(model('local', { 'postgres.maxConnections': 300 }));
    expect(cfg).toMatch(/^ {4}maxconn 1000$/m); // 3 members * 300 + 100
    expect(cfg).toContain('maxconn 300 check');
  });
});

import type { PlatformModel } from '../model.js';

/**
 * Health-check timing. A dead primary is marked DOWN after `fall` failed checks `fastinter` apart
 * (~1 s), and the new one UP on its first good check: HAProxy adds about 0.3-0.8 s to Patroni's
 * failover (ttl + ~0.5 s). Measured in the Patroni recipe; change it there first.
 */
const CHECK = 'inter 1s fastinter 500ms downinter 1s fall 2 rise 1';

/**
 * haproxy.cfg: `listen primary` (check /primary), `listen replicas` (check /replica), stats.
 * Every backend server is a Patroni member's PostgreSQL port, health-checked over HTTP on that
 * member's Patroni REST port, so exactly the current leader is UP in `primary`.
 */
export function renderHaproxyConfig(model: PlatformModel): string {
  const pg = model.postgres;
  if (!pg.members.length) throw new Error('postgres.members: HAProxy needs at least one Patroni member');
  const local = model.target === 'local';
  const bindHost = local ? pg.haproxy.host : '0.0.0.0';
  const perServerMaxconn = pg.config.maxConnections;
  const globalMaxconn = pg.members.length * perServerMaxconn + 100;
  // Containers resolve member names through DNS, and Docker/Kubernetes drop the name of a stopped
  // container or unready pod: `init-addr none` lets HAProxy start anyway and `resolvers` picks the
  // address up (also after a pod got a new IP) instead of pinning what it saw at startup.
  const dnsOpts = local ? '' : ' resolvers dns init-addr last,libc,none';
  const servers = pg.members.map((m) => `    server ${m.name} ${m.host}:${m.pgPort} maxconn ${perServerMaxconn} check port ${m.restPort}${dnsOpts}`);
  const listen = (name: string, port: number, path: string, extra: string[]) => [
    `listen ${name}`,
    `    bind ${bindHost}:${port}`,
    ...extra,
    '    option httpchk',
    `    http-check send meth HEAD uri ${path}`,
    '    http-check expect status 200',
    // shutdown-sessions: clients of a demoted primary are cut at once instead of writing into a replica.
    `    default-server ${CHECK} on-marked-down shutdown-sessions`,
    ...servers,
    '',
  ];
  return [
    `# generated from the platform model (${model.target}); do not edit`,
    'global',
    `    maxconn ${globalMaxconn}`,
    // No daemon/chroot/user: it runs in the foreground (haproxy -db, or as a container's PID 1).
    '',
    ...(local
      ? []
      : ['resolvers dns', '    parse-resolv-conf', '    hold valid 10s', '    hold nx 5s', '    hold obsolete 5s', '    timeout resolve 1s', '    timeout retry 1s', '']),
    'defaults',
    '    mode tcp',
    '    log global',
    '    retries 2',
    '    timeout connect 1s',
    // Database sessions are long-lived; the pool (PgBouncer, the service) decides when they end.
    '    timeout client 30m',
    '    timeout server 30m',
    '    timeout check 1s',
    '',
    'listen stats',
    '    mode http',
    `    bind ${bindHost}:${pg.haproxy.statsPort}`,
    '    stats enable',
    '    stats uri /',
    '    stats refresh 5s',
    '    http-request use-service prometheus-exporter if { path /metrics }',
    '',
    ...listen('primary', pg.haproxy.primaryPort, '/primary', []),
    ...listen('replicas', pg.haproxy.replicaPort, '/replica', ['    balance roundrobin']),
  ].join('\n');
}

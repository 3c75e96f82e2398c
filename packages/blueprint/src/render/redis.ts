import type { PlatformModel, RedisNode } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** Every node keeps its cluster state in `<dir>/nodes.conf`; the devstack checks for it to tell "create" from "restart". */
export const REDIS_CLUSTER_CONFIG_FILE = 'nodes.conf';

/**
 * RDB snapshot rules (Redis 7's own defaults, written out so they are visible and reviewable): AOF
 * everysec is the durable copy, the RDB gives fast restarts and a file a backup job can copy.
 */
export const REDIS_SAVE_RULES = '3600 1 300 100 60 10000';

/**
 * Commands the `app` user gets back after `-@dangerous`. `@dangerous` also holds read-only
 * commands clients rely on: ioredis sends INFO for its ready check on every connection. CLUSTER
 * SLOTS/SHARDS/INFO/NODES (slot map refresh) and READONLY are not in `@dangerous`, so `+@all` keeps them.
 */
export const REDIS_APP_EXTRA_COMMANDS = ['info', 'ping'] as const;

/**
 * What prometheus-redis-exporter runs. Deliberately without `config|get`: CONFIG GET returns
 * `masterauth` in clear text, i.e. the replication password (which can PSYNC the whole data set).
 * Run the exporter with `-config-command=-` (it then skips the config metrics).
 */
export const REDIS_EXPORTER_COMMANDS = [
  'info',
  'ping',
  'client|setname',
  'client|list',
  'slowlog|get',
  'slowlog|len',
  'latency|latest',
  'latency|histogram',
  'cluster|info',
  'cluster|nodes',
  'select',
  'dbsize',
] as const;

/**
 * A password as it appears in users.acl (`>pw`) and redis.conf (`masterauth`). The ACL file is split
 * on spaces with no quoting and has no escape syntax, so whitespace and control characters cannot be
 * written at all: reject them here rather than render a file that silently grants something else.
 */
export function checkRedisPassword(key: string, password: string): string {
  if (password.length === 0) throw new Error(`${key}: Redis password must not be empty`);
  // eslint-disable-next-line no-control-regex
  const bad = /[\s\u0000-\u001f\u007f]/.exec(password);
  if (bad) {
    throw new Error(`${key}: Redis password contains ${JSON.stringify(bad[0])} at index ${bad.index}; whitespace and control characters cannot be written to a Redis ACL file`);
  }
  return password;
}

/** A redis.conf argument: bare when safe, else double-quoted with the escapes redis.conf's parser (sdssplitargs) understands. */
export function redisConfValue(value: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(value)) return value;
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function isContainerTarget(model: PlatformModel): boolean {
  return model.target !== 'local';
}

/** redis.conf of one cluster node. */
export function renderRedisConf(model: PlatformModel, node: RedisNode, secrets: PlatformSecrets): string {
  const r = model.redis;
  if (!r.nodes.some((n) => n.name === node.name)) throw new Error(`renderRedisConf: node ${node.name} is not in model.redis.nodes`);
  const replicationPassword = checkRedisPassword('secrets.redis.replication', secrets.redis.replication);
  const v = redisConfValue;
  const lines = [
    `# ${node.name}: rendered by @numbering/blueprint from the platform model (target ${model.target}); do not edit.`,
    '',
    '# --- network ---',
    // Containers must accept other pods/containers; the devstack stays on loopback. `bind` also binds the
    // cluster bus (port + 10000). protected-mode stays on: it only bites while the default user is
    // passwordless, and ours is `off`, so it is a second lock, not an obstacle.
    `bind ${isContainerTarget(model) ? '0.0.0.0' : '127.0.0.1'}`,
    'protected-mode yes',
    `port ${node.port}`,
    `cluster-port ${node.busPort}`,
    '',
    '# --- process ---',
    `daemonize ${node.daemonize ? 'yes' : 'no'}`,
    `pidfile ${v(node.pidfile)}`,
    // Empty logfile = stdout, which is what container runtimes collect.
    `logfile ${node.logfile ? v(node.logfile) : '""'}`,
    `dir ${v(node.dir)}`,
    '',
    '# --- cluster ---',
    'cluster-enabled yes',
    `cluster-config-file ${REDIS_CLUSTER_CONFIG_FILE}`,
    // Failover takes about node-timeout + 1-2 s (PFAIL -> FAIL gossip -> replica election).
    `cluster-node-timeout ${r.nodeTimeoutMs}`,
    ...(node.announceHostname
      ? [
          // Pod IPs change on every restart; the stable per-pod DNS name does not. Nodes announce it and
          // clients are redirected (MOVED/ASK, CLUSTER SLOTS) to the hostname instead of the old IP.
          `cluster-announce-hostname ${v(node.announceHostname)}`,
          'cluster-preferred-endpoint-type hostname',
        ]
      : []),
    '',
    '# --- persistence: AOF (everysec by default) for durability, RDB snapshots for fast restarts and backups ---',
    'appendonly yes',
    `appendfsync ${r.appendfsync}`,
    `save ${REDIS_SAVE_RULES}`,
    'dbfilename dump.rdb',
    '',
    '# --- replication ---',
    'masteruser repl',
    `masterauth ${v(replicationPassword)}`,
    // Start the initial full sync at once instead of waiting 5 s for more replicas to join the same RDB transfer.
    'repl-diskless-sync-delay 0',
    '',
    '# --- memory: locks and counters must never be evicted; a full node must refuse writes instead ---',
    `maxmemory ${r.maxmemoryMb}mb`,
    'maxmemory-policy noeviction',
    '',
    '# --- security ---',
    `aclfile ${v(r.aclFile)}`,
    // Dangerous commands are denied per user by the ACL (the app user has -@dangerous), not with
    // rename-command: renaming is global (the admin could no longer FLUSHALL or CONFIG either), cannot be
    // changed at runtime, and a renamed command that is in an existing AOF or the replication stream
    // breaks loading and replicas. DEBUG, MODULE and protected CONFIG keys are additionally off for everyone.
    'enable-debug-command no',
    'enable-module-command no',
    'enable-protected-configs no',
    '',
  ];
  return lines.join('\n');
}

/**
 * users.acl shared by every node: default off, admin, app (no dangerous commands), repl, exporter.
 * NB: Redis ACL files have no comment syntax, so everything explaining them lives here.
 */
export function renderRedisAcl(_model: PlatformModel, secrets: PlatformSecrets): string {
  const s = secrets.redis;
  const pw = (key: keyof PlatformSecrets['redis']) => `>${checkRedisPassword(`secrets.redis.${key}`, s[key])}`;
  const lines = [
    // Unauthenticated connections get NOAUTH; `off` without `nopass` also keeps protected-mode quiet.
    'user default off',
    // Cluster create/check/reshard, backups, operators.
    `user admin on ${pw('admin')} ~* &* +@all`,
    // The numbering service: everything except @dangerous (FLUSHALL, KEYS, CONFIG, DEBUG, SHUTDOWN, ...).
    `user app on ${pw('app')} ~* &* +@all -@dangerous ${REDIS_APP_EXTRA_COMMANDS.map((c) => `+${c}`).join(' ')}`,
    // Replicas authenticate to their master with `masteruser repl`; they need nothing beyond the sync protocol.
    `user repl on ${pw('replication')} resetchannels -@all +psync +sync +replconf +ping`,
    // Metrics only: no key access, no CONFIG (see REDIS_EXPORTER_COMMANDS).
    `user exporter on ${pw('exporter')} resetchannels -@all ${REDIS_EXPORTER_COMMANDS.map((c) => `+${c}`).join(' ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Arguments of `redis-cli` that create the cluster (as the admin user). The server's CLUSTER MEET takes
 * IP addresses only, but redis-cli 7.0 resolves `host:port` itself before sending it (checked with
 * 7.0.15 and `localhost:<port>`), so pod/container hostnames can be passed as they are once they resolve.
 */
export function redisClusterCreateArgs(model: PlatformModel, secrets: PlatformSecrets): string[] {
  const r = model.redis;
  const expected = r.masters * (1 + r.replicasPerMaster);
  if (r.nodes.length !== expected) {
    throw new Error(`redis.masters (${r.masters}) x (1 + redis.replicasPerMaster ${r.replicasPerMaster}) = ${expected} nodes, but the model has ${r.nodes.length}`);
  }
  return [
    '--user',
    'admin',
    '--pass',
    checkRedisPassword('secrets.redis.admin', secrets.redis.admin),
    '--no-auth-warning',
    '--cluster',
    'create',
    ...r.nodes.map((n) => `${n.host}:${n.port}`),
    '--cluster-replicas',
    String(r.replicasPerMaster),
    '--cluster-yes',
  ];
}

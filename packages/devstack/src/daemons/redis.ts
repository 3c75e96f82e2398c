import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import {
  REDIS_CLUSTER_CONFIG_FILE,
  redisClusterCreateArgs,
  renderRedisAcl,
  renderRedisConf,
  type PlatformModel,
  type PlatformSecrets,
  type RedisNode,
} from '@numbering/blueprint';
import { run, sleep, startDaemon, waitFor, type DaemonProcess, type StartDaemonOptions } from '../process.js';

/**
 * A Redis Cluster of local redis-server processes, one per model node, for the devstack and the
 * integration tests. Nodes run in the foreground as our children (`daemonize no`), so kill/start
 * act on exactly the process we started.
 */
export interface RedisClusterHandle {
  readonly nodes: RedisNode[];
  /** Sends `signal` (default SIGKILL) to one node; resolves when the process exited (SIGSTOP/SIGCONT: once sent). */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** (Re)starts one node with its config; resolves when it answers PING. */
  start(name: string): Promise<void>;
  /** Names of the nodes currently master (not failed), from CLUSTER NODES of a live node. */
  masters(): Promise<string[]>;
  /** Every running node: cluster_state:ok, the same set of live masters covering all slots, every running replica's link up. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node we started (SIGTERM, then SIGKILL after a timeout). */
  stop(): Promise<void>;
}

export const redisConfPath = (node: RedisNode) => join(node.dir, 'redis.conf');
/** stdout/stderr of redis-server: config errors are printed here before `logfile` is opened. */
const redisStdoutPath = (node: RedisNode) => join(node.dir, 'redis-server.out');

/** How one node's redis-server is run: the same spec for `startDaemon` (tests) and supervisord (devstack). */
export function redisServerSpec(node: RedisNode): StartDaemonOptions {
  return { name: node.name, command: 'redis-server', args: [redisConfPath(node)], logFile: redisStdoutPath(node), cwd: node.dir };
}

/** Writes users.acl and every node's redis.conf into the model's directories. */
export function writeRedisConfigs(model: PlatformModel, secrets: PlatformSecrets): void {
  mkdirSync(dirname(model.redis.aclFile), { recursive: true });
  writeFileSync(model.redis.aclFile, renderRedisAcl(model, secrets), { mode: 0o600 });
  for (const node of model.redis.nodes) {
    mkdirSync(node.dir, { recursive: true });
    writeFileSync(redisConfPath(node), renderRedisConf(model, node, secrets), { mode: 0o600 });
  }
}

/**
 * One short-lived admin connection: no retries, no offline queue, so a dead node fails fast. The whole
 * exchange is also bounded: a connection that a dying redis-server accepts and then drops can leave
 * ioredis' promises unsettled, and a poll loop must never hang on one.
 */
export async function redisAdminCall(node: RedisNode, secrets: PlatformSecrets, commands: string[][], timeoutMs = 5000): Promise<unknown[]> {
  const client = new Redis({
    host: node.host,
    port: node.port,
    username: 'admin',
    password: secrets.redis.admin,
    lazyConnect: true,
    connectTimeout: Math.min(timeoutMs, 2000),
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${node.name}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  const exchange = async () => {
    await client.connect();
    const results: unknown[] = [];
    for (const [command, ...args] of commands) results.push(await client.call(command!, ...args));
    return results;
  };
  try {
    return await Promise.race([exchange(), deadline]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

interface ClusterNodesEntry {
  id: string;
  port: number;
  hostname: string;
  flags: string[];
  masterId: string;
  linkState: string;
  slots: string[];
}

/** Parses CLUSTER NODES (`<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`). */
export function parseClusterNodes(text: string): ClusterNodesEntry[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [id = '', addr = '', flags = '', masterId = '', , , , linkState = '', ...slots] = line.split(' ');
      const [hostPort = '', hostname = ''] = addr.split(',');
      const port = Number(hostPort.split('@')[0]!.split(':').at(-1));
      return { id, port, hostname, flags: flags.split(','), masterId, linkState, slots };
    });
}

function nodeOf(nodes: RedisNode[], entry: ClusterNodesEntry): RedisNode | undefined {
  const byPort = nodes.filter((n) => n.port === entry.port);
  if (byPort.length === 1) return byPort[0];
  return nodes.find((n) => n.announceHostname !== '' && n.announceHostname === entry.hostname);
}

const failed = (e: ClusterNodesEntry) => e.flags.includes('fail') || e.flags.includes('fail?') || e.flags.includes('noaddr');
const infoField = (info: string, field: string) => new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Sends `signal` and waits until the process is gone. redis-server ignores a SIGTERM that arrives while
 * it writes the initial AOF after a full resync ("Writing initial AOF, can't exit.") and does not retry
 * by itself, so the signal is repeated every 500 ms; after `killAfterMs` SIGKILL ends it for sure.
 * SIGSTOP/SIGCONT (a hung node and its recovery) never end a process: they resolve once sent.
 */
async function signalUntilExited(daemon: DaemonProcess, signal: NodeJS.Signals, killAfterMs: number): Promise<void> {
  const send = (s: NodeJS.Signals) => {
    try {
      daemon.kill(s);
    } catch {
      // Exited between the check and the signal (ESRCH): that is what we wait for anyway.
    }
  };
  send(signal);
  if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
  const deadline = Date.now() + killAfterMs;
  while (daemon.alive()) {
    await Promise.race([daemon.exited, sleep(500)]);
    if (daemon.alive()) send(Date.now() < deadline ? signal : 'SIGKILL');
  }
}

/**
 * Why the cluster is not healthy yet, or undefined when it is, as seen by the `live` nodes (those
 * expected to run): cluster_state ok, the same set of live masters covering all slots, every replica's link up.
 */
export async function redisClusterUnhealthyReason(model: PlatformModel, secrets: PlatformSecrets, live: RedisNode[]): Promise<string | undefined> {
  const nodes = model.redis.nodes;
  const nameOf = (entry: ClusterNodesEntry) => nodeOf(nodes, entry)?.name ?? `unknown:${entry.port}`;
  const call = (node: RedisNode, commands: string[][]) => redisAdminCall(node, secrets, commands);
  if (live.length === 0) return 'no node is running';
  const liveNames = new Set(live.map((n) => n.name));
  let agreedMasters: Set<string> | undefined;
  for (const node of live) {
    const [clusterInfo, nodesText, replication] = (await call(node, [['CLUSTER', 'INFO'], ['CLUSTER', 'NODES'], ['INFO', 'replication']])).map(String) as [string, string, string];
    if (infoField(clusterInfo, 'cluster_state') !== 'ok') return `${node.name}: cluster_state is ${infoField(clusterInfo, 'cluster_state')}`;
    const view = parseClusterNodes(nodesText);
    const withSlots = view.filter((e) => e.flags.includes('master') && e.slots.length > 0);
    for (const entry of withSlots) {
      if (failed(entry) || !liveNames.has(nameOf(entry))) return `${node.name} still sees ${nameOf(entry)} (${entry.flags.join(',')}) as a slot-owning master`;
    }
    if (withSlots.length !== model.redis.masters) return `${node.name} sees ${withSlots.length} slot-owning masters, expected ${model.redis.masters}`;
    const masterNames = new Set(withSlots.map(nameOf));
    agreedMasters ??= masterNames;
    if ([...masterNames].some((m) => !agreedMasters!.has(m))) return `${node.name} disagrees on the masters: ${[...masterNames].join(',')} vs ${[...agreedMasters].join(',')}`;
    // Gossip has caught up only when this node sees every running node alive in the role it really has
    // (a freshly created or rejoined replica shows up late in the others' views).
    for (const other of live) {
      const entry = view.find((e) => nameOf(e) === other.name);
      const role = agreedMasters.has(other.name) ? 'master' : 'slave';
      if (!entry || failed(entry) || !entry.flags.includes(role)) return `${node.name}'s view of ${other.name} is stale (${entry?.flags.join(',') ?? 'missing'}, expected ${role})`;
    }
    if (infoField(replication, 'role') === 'slave') {
      const link = infoField(replication, 'master_link_status');
      if (link !== 'up') return `${node.name}: replica link to its master is ${link}`;
      const self = view.find((e) => e.flags.includes('myself'));
      const master = view.find((e) => e.id === self?.masterId);
      if (!master || !liveNames.has(nameOf(master))) return `${node.name} replicates ${master ? nameOf(master) : self?.masterId}, which is not running`;
    }
  }
  return undefined;
}

/** `redis-cli --cluster create` over the model's nodes (all running and empty). */
export async function createRedisCluster(model: PlatformModel, secrets: PlatformSecrets): Promise<void> {
  const created = await run('redis-cli', redisClusterCreateArgs(model, secrets), { timeoutMs: 60_000 });
  if (created.code !== 0 || !/All 16384 slots covered/.test(created.stdout)) {
    throw new Error(`redis-cli --cluster create failed (exit ${created.code}):\n${created.stdout}\n${created.stderr}`);
  }
}

export async function startRedisCluster(model: PlatformModel, secrets: PlatformSecrets): Promise<RedisClusterHandle> {
  if (model.target !== 'local') throw new Error(`startRedisCluster runs the devstack only; the model's target is ${model.target}`);
  const nodes = model.redis.nodes;
  writeRedisConfigs(model, secrets);
  const existing = nodes.filter((n) => existsSync(join(n.dir, REDIS_CLUSTER_CONFIG_FILE)));
  if (existing.length > 0 && existing.length < nodes.length) {
    const missing = nodes.filter((n) => !existing.includes(n)).map((n) => n.name);
    throw new Error(`redis: ${existing.length} of ${nodes.length} nodes have a ${REDIS_CLUSTER_CONFIG_FILE}, ${missing.join(', ')} do not; remove ${dirname(model.redis.aclFile)} to start over`);
  }
  const processes = new Map<string, DaemonProcess>();
  const nodeNamed = (name: string) => {
    const node = nodes.find((n) => n.name === name);
    if (!node) throw new Error(`redis: no node named ${name} (nodes: ${nodes.map((n) => n.name).join(', ')})`);
    return node;
  };
  const running = () => nodes.filter((n) => processes.get(n.name)?.alive());
  const nameOf = (entry: ClusterNodesEntry) => nodeOf(nodes, entry)?.name ?? `unknown:${entry.port}`;
  const call = (node: RedisNode, commands: string[][]) => redisAdminCall(node, secrets, commands);

  async function start(name: string): Promise<void> {
    const node = nodeNamed(name);
    if (processes.get(name)?.alive()) return;
    const daemon = startDaemon(redisServerSpec(node));
    processes.set(name, daemon);
    await waitFor(
      `${node.name} to answer PING on ${node.host}:${node.port}`,
      // A dead process ends the wait at once; it is reported below.
      async () => !daemon.alive() || (await call(node, [['PING']]))[0] === 'PONG',
      { timeoutMs: 20_000, intervalMs: 50, logFile: node.logfile },
    ).catch((e: unknown) => {
      // A node that never became ready is not left behind.
      daemon.kill('SIGKILL');
      throw e;
    });
    if (!daemon.alive()) throw new Error(`${node.name}: redis-server exited (${await daemon.exited}):\n${tail(redisStdoutPath(node))}\n${tail(node.logfile)}`);
  }

  async function kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    nodeNamed(name);
    const daemon = processes.get(name);
    if (daemon?.alive()) await signalUntilExited(daemon, signal, 30_000);
  }

  async function clusterView(node: RedisNode): Promise<ClusterNodesEntry[]> {
    const [text] = await call(node, [['CLUSTER', 'NODES']]);
    return parseClusterNodes(String(text));
  }

  async function masters(): Promise<string[]> {
    let lastError: unknown;
    for (const node of running()) {
      try {
        const view = await clusterView(node);
        return view
          .filter((e) => e.flags.includes('master') && !e.flags.includes('fail'))
          .map(nameOf)
          .sort();
      } catch (e) {
        lastError = e;
      }
    }
    throw new Error(`redis: no running node answered CLUSTER NODES${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
  }

  async function waitHealthy(timeoutMs = 60_000): Promise<void> {
    let reason: string | undefined = 'not checked yet';
    await waitFor(
      'the Redis cluster to become healthy',
      async () => {
        reason = await redisClusterUnhealthyReason(model, secrets, running());
        return reason === undefined;
      },
      { timeoutMs, intervalMs: 100 },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last state: ${reason}`);
    });
  }

  async function stop(): Promise<void> {
    await Promise.all([...processes.values()].filter((p) => p.alive()).map((p) => signalUntilExited(p, 'SIGTERM', 10_000)));
  }

  try {
    await Promise.all(nodes.map((n) => start(n.name)));
    if (existing.length === 0) await createRedisCluster(model, secrets);
    await waitHealthy(60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes, kill, start, masters, waitHealthy, stop };
}

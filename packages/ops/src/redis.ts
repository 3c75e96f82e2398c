import { Redis } from 'ioredis';
import type { RedisNode } from '@numbering/blueprint';
import type { parseClusterNodes } from '@numbering/devstack';
import type { OpsContext } from './context.js';

/**
 * Admin connections to the Redis Cluster nodes of the model, one node at a time (never a cluster
 * client: `check` and `backup` must talk to exactly the node they name, including a failing one).
 */

/** The ACL user for cluster checks and backups (users.acl: `+@all`). */
export const REDIS_ADMIN_USER = 'admin';

export type ClusterNodesEntry = ReturnType<typeof parseClusterNodes>[number];

export const nodeAddress = (node: RedisNode) => `${node.host}:${node.port}`;

/** One open admin connection to one node; every call is bounded so a hung node cannot hang the command. */
export class RedisAdminConnection {
  private readonly client: Redis;
  private lastError: Error | undefined;

  constructor(
    readonly node: RedisNode,
    password: string,
    private readonly timeoutMs = 5000,
  ) {
    this.client = new Redis({
      host: node.host,
      port: node.port,
      username: REDIS_ADMIN_USER,
      password,
      lazyConnect: true,
      connectTimeout: Math.min(timeoutMs, 3000),
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    // ioredis rejects a failed connect with a bare "Connection is closed."; the cause arrives as an 'error' event.
    this.client.on('error', (e: Error) => (this.lastError = e));
  }


  async connect(): Promise<void> {
    await this.bounded('connect', this.client.connect());
  }

  async call(command: string, ...args: string[]): Promise<unknown> {
    return this.bounded(`${command} ${args.join(' ')}`.trim(), this.client.call(command, ...args));
  }

  async text(command: string, ...args: string[]): Promise<string> {
    return String(await this.call(command, ...args));
  }

  close(): void {
    this.client.disconnect();
  }

  private async bounded<T>(what: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([promise, deadline]);
    } catch (e) {
      if (this.lastError && /Connection is closed/.test((e as Error).message)) throw this.lastError;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Connects as the admin user; the error names the node and its address. */
export async function connectRedisAdmin(ctx: OpsContext, node: RedisNode, timeoutMs = 5000): Promise<RedisAdminConnection> {
  const conn = new RedisAdminConnection(node, ctx.secret('redis.admin'), timeoutMs);
  try {
    await conn.connect();
    return conn;
  } catch (e) {
    conn.close();
    throw new Error(`${node.name} (${nodeAddress(node)}): ${(e as Error).message}`);
  }
}

/** `field:value` lines of INFO as a map. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return fields;
}

/**
 * The model node a CLUSTER NODES entry stands for: by port when that is unique (the devstack, where
 * every node is 127.0.0.1 with its own port), else by the announced hostname (containers share 6379).
 */
export function modelNodeOf(nodes: readonly RedisNode[], entry: Pick<ClusterNodesEntry, 'port' | 'hostname'>): RedisNode | undefined {
  const byPort = nodes.filter((n) => n.port === entry.port);
  if (byPort.length === 1) return byPort[0];
  return nodes.find((n) => n.announceHostname !== '' && n.announceHostname === entry.hostname);
}

export const CLUSTER_SLOTS = 16_384;

/** Slot numbers of CLUSTER NODES slot fields (`0-5460`, `7000`); migrating/importing markers (`[...]`) are not ownership. */
export function slotsOf(fields: readonly string[]): number[] {
  const slots: number[] = [];
  for (const field of fields) {
    if (field.startsWith('[')) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(field);
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let s = lo; s <= hi; s++) slots.push(s);
  }
  return slots;
}

/** `[0,1,2,5,7,8]` → `0-2,5,7-8`. */
export function slotRanges(slots: Iterable<number>): string {
  const sorted = [...new Set(slots)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

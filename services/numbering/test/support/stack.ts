import { once } from 'node:events';
import http from 'node:http';
import { join } from 'node:path';
import { migrationEnvironment, serviceEnvironment, type ServiceRelease } from '@numbering/blueprint';
import { createTestbed, startDaemon, startMariaDb, startRedisCluster, waitFor, type DaemonProcess, type MariaDbHandle, type RedisClusterHandle, type Testbed } from '@numbering/devstack';
import { loadMigrationEnv } from '../../src/config.js';
import { migrate } from '../../src/db/migrate.js';

/**
 * Integration-test stack: a real 6-node Redis Cluster and a real MariaDB from the devstack harness
 * (on a free port offset, in a temp dir), migrated as the `migrator` user, plus numbering service
 * instances as real child processes (`node --import tsx src/server.ts`) configured exactly as the
 * platform configures them (blueprint serviceEnvironment).
 */

export const serviceDir = join(import.meta.dirname, '..', '..');

export interface Infra {
  testbed: Testbed;
  redis: RedisClusterHandle;
  mariadb: MariaDbHandle;
  stop(): Promise<void>;
}

export async function startInfra(overrides: Record<string, unknown> = {}): Promise<Infra> {
  const testbed = await createTestbed({ 'mariadb.innodbLogFileSize': '48M', 'mariadb.innodbBufferPoolSize': '128M', ...overrides });
  const [redis, mariadb] = await Promise.allSettled([startRedisCluster(testbed.model, testbed.secrets), startMariaDb(testbed.model, testbed.secrets)]);
  const stopBoth = async () => {
    await Promise.all([redis.status === 'fulfilled' ? redis.value.stop() : undefined, mariadb.status === 'fulfilled' ? mariadb.value.stop() : undefined]);
  };
  if (redis.status === 'rejected' || mariadb.status === 'rejected') {
    await stopBoth();
    testbed.dispose();
    throw redis.status === 'rejected' ? redis.reason : (mariadb as PromiseRejectedResult).reason;
  }
  await migrate(loadMigrationEnv(migrationEnvironment(testbed.model, testbed.secrets)));
  return {
    testbed,
    redis: redis.value,
    mariadb: mariadb.value,
    async stop() {
      await stopBoth();
      testbed.dispose();
    },
  };
}

export interface ServiceInstance {
  url: string;
  release: ServiceRelease;
  process: DaemonProcess;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts release `index` (0 stable, 1 canary) of the model as a child process; resolves when /health/ready is 200. */
export async function startService(infra: Infra, index: 0 | 1, extraEnv: Record<string, string> = {}): Promise<ServiceInstance> {
  const { model, secrets, workdir } = infra.testbed;
  const release = model.service.releases[index];
  const env = { ...serviceEnvironment(model, release, secrets), LOG_LEVEL: 'warn', ...extraEnv };
  const logFile = join(workdir, 'logs', `${release.name}.log`);
  const proc = startDaemon({ name: release.name, command: process.execPath, args: ['--import', 'tsx', 'src/server.ts'], cwd: serviceDir, env, logFile });
  const url = `http://${release.host}:${release.port}`;
  try {
    await waitFor(
      `${release.name} /health/ready`,
      async () => {
        if (!proc.alive()) throw new Error(`service exited: ${await proc.exited}`);
        return (await request(url, 'GET', '/health/ready')).status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 200, logFile },
    );
  } catch (e) {
    await proc.stop('SIGKILL');
    throw e;
  }
  return { url, release, process: proc, env, stop: () => proc.stop('SIGTERM', 20_000) };
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Minimal JSON client on a keep-alive agent; network errors reject (status 0 is never faked). */
export async function request<T = Record<string, unknown>>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const req = http.request(new URL(path, base), {
    method,
    agent,
    headers: { ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...headers },
    timeout: 30_000,
  });
  req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
  req.end(payload);
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown = text;
  if ((res.headers['content-type'] ?? '').includes('application/json')) parsed = JSON.parse(text);
  return { status: res.statusCode ?? 0, headers: res.headers, body: parsed as T };
}

export const adminHeaders = (infra: Infra) => ({ authorization: `Bearer ${infra.testbed.secrets.service.adminToken}` });

/** Ledger facts straight from MariaDB (as root over the socket), for the assertions. */
export async function ledgerCheck(infra: Infra, templateName: string) {
  const db = infra.testbed.model.mariadb.config.database;
  const rows = (await infra.mariadb.sql(
    `SELECT c.counter_key, c.epoch, c.current_value,
            (SELECT COUNT(*) FROM ${db}.numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch),
            (SELECT COUNT(DISTINCT n.sequence) FROM ${db}.numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch),
            (SELECT COALESCE(MIN(n.sequence), 0) FROM ${db}.numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch),
            (SELECT COALESCE(MAX(n.sequence), 0) FROM ${db}.numbers n WHERE n.counter_key = c.counter_key AND n.epoch = c.epoch)
     FROM ${db}.counters c JOIN ${db}.templates t ON t.id = c.template_id WHERE t.name = '${templateName}' ORDER BY c.counter_key`,
  ))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [counterKey, epoch, current, rowsInLedger, distinct, min, max] = line.split('\t');
      return { counterKey: counterKey!, epoch: Number(epoch), current: Number(current), rows: Number(rowsInLedger), distinct: Number(distinct), min: Number(min), max: Number(max) };
    });
  return rows;
}

/** Numbers of a template in the ledger with a given state (number -> count). */
export async function ledgerNumbers(infra: Infra, templateName: string, states = ['CONFIRMED']): Promise<Map<string, number>> {
  const db = infra.testbed.model.mariadb.config.database;
  const out = await infra.mariadb.sql(
    `SELECT n.number, COUNT(*) FROM ${db}.numbers n JOIN ${db}.templates t ON t.id = n.template_id WHERE t.name = '${templateName}' AND n.state IN (${states.map((s) => `'${s}'`).join(',')}) GROUP BY n.number`,
  );
  return new Map(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [n, c] = l.split('\t');
        return [n!, Number(c)];
      }),
  );
}

/** Parses one Prometheus sample value (`name{labels} value`) from /metrics text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

import { mkdirSync } from 'node:fs';
import { endpointString, type Endpoint } from '@numbering/blueprint';
import { startDaemon, waitFor, type DaemonProcess, type StartDaemonOptions } from '../process.js';

/**
 * A single-member etcd for Patroni's DCS on the devstack (and for `patroni --validate-config`, which
 * insists on reaching its DCS). The peer port is the client port + 1, as `modelPorts` reserves it.
 */
export interface EtcdOptions {
  name: string;
  client: Endpoint;
  /** Metrics endpoint (`/metrics`, `/health`); etcd also serves both on the client port. */
  metrics?: Endpoint;
  dataDir: string;
  logFile: string;
  /** Keeps two clusters that share a machine from ever joining each other. */
  clusterToken: string;
}

export interface EtcdHandle {
  readonly process: DaemonProcess;
  readonly url: string;
  healthy(): Promise<boolean>;
  /** SIGTERM; etcd's WAL is fsynced, so even the SIGKILL fallback loses nothing acknowledged. */
  stop(): Promise<void>;
}

/**
 * `waitFor`, but gives up at once (naming the daemon and its log) when one of `procs` exits meanwhile,
 * instead of polling a dead daemon until the timeout.
 */
export async function waitWhileRunning(procs: DaemonProcess[], what: string, check: () => Promise<boolean> | boolean, opts: { timeoutMs?: number; intervalMs?: number; logFile?: string } = {}): Promise<void> {
  let dead: DaemonProcess | undefined;
  await waitFor(what, async () => {
    dead = procs.find((p) => !p.alive());
    return dead !== undefined || (await check());
  }, opts);
  if (dead) throw new Error(`${dead.name} exited (${String(await dead.exited)}) while waiting for ${what} (see ${dead.logFile})`);
}

export const etcdClientUrl = (opts: Pick<EtcdOptions, 'client'>) => `http://${endpointString(opts.client)}`;

/** How the etcd member is run: the same spec for `startDaemon` and supervisord. */
export function etcdSpec(opts: EtcdOptions): StartDaemonOptions {
  const url = etcdClientUrl(opts);
  const peer = `http://${opts.client.host}:${opts.client.port + 1}`;
  return {
    name: `etcd-${opts.name}`,
    command: 'etcd',
    args: [
      `--name=${opts.name}`,
      `--data-dir=${opts.dataDir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${opts.name}=${peer}`,
      // Ignored once the data dir exists, so a restart keeps its data.
      '--initial-cluster-state=new',
      `--initial-cluster-token=${opts.clusterToken}`,
      ...(opts.metrics ? [`--listen-metrics-urls=http://${endpointString(opts.metrics)}`] : []),
      // Patroni rewrites its keys every loop_wait: without compaction the revision history grows until the quota alarm.
      '--auto-compaction-mode=periodic',
      '--auto-compaction-retention=1h',
      '--logger=zap',
    ],
    logFile: opts.logFile,
  };
}

/** True when the member answers /health with `"health":"true"`. */
export async function etcdHealthy(url: string): Promise<boolean> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
  return res.ok && ((await res.json()) as { health?: string }).health === 'true';
}

export async function startEtcd(opts: EtcdOptions): Promise<EtcdHandle> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const url = etcdClientUrl(opts);
  const proc = startDaemon(etcdSpec(opts));
  const healthy = () => etcdHealthy(url);
  try {
    await waitWhileRunning([proc], `etcd ${opts.name} at ${url}`, healthy, { timeoutMs: 20_000, logFile: opts.logFile });
  } catch (e) {
    await proc.stop('SIGKILL', 2000);
    throw e;
  }
  return { process: proc, url, healthy, stop: () => proc.stop('SIGTERM', 10_000) };
}

import { createServer } from 'node:net';
import type { PlatformModel } from '@numbering/blueprint';

/** Every TCP port a devstack model listens on. */
export function modelPorts(model: PlatformModel): number[] {
  const ports = new Set<number>();
  for (const n of model.redis.nodes) ports.add(n.port).add(n.busPort);
  ports.add(model.redis.exporter.port).add(model.mariadb.port).add(model.mariadb.exporter.port);
  for (const r of model.service.releases) ports.add(r.port);
  ports.add(model.canary.listen.port);
  const m = model.monitoring;
  for (const e of [m.prometheus, m.alertmanager, m.webhook, m.grafana, ...m.etcdMetrics]) ports.add(e.port);
  const pg = model.postgres;
  if (pg.dcs.kind === 'etcd3') for (const h of pg.dcs.hosts) ports.add(h.port).add(h.port + 1);
  for (const member of pg.members) ports.add(member.pgPort).add(member.restPort);
  ports.add(pg.haproxy.primaryPort).add(pg.haproxy.replicaPort).add(pg.haproxy.statsPort).add(pg.pgbouncer.port);
  return [...ports].sort((a, b) => a - b);
}

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A `local.portOffset` under which every port of the model is free, so tests (and a second devstack)
 * never collide with a running devstack or with each other. Offsets are multiples of 100 in a random
 * order so parallel test files rarely race for the same one.
 */
export async function findFreePortOffset(portsAt: (offset: number) => number[], opts: { min?: number; max?: number } = {}): Promise<number> {
  const min = opts.min ?? 1000;
  // The config schema caps local.portOffset at 20000.
  const max = opts.max ?? 20_000;
  const candidates: number[] = [];
  for (let o = min; o <= max; o += 100) candidates.push(o);
  candidates.sort(() => Math.random() - 0.5);
  for (const offset of candidates) {
    const ports = portsAt(offset);
    let free = true;
    for (const p of ports) {
      if (!(await isPortFree(p))) {
        free = false;
        break;
      }
    }
    if (free) return offset;
  }
  throw new Error(`no port offset in ${min}..${max} leaves every devstack port free`);
}

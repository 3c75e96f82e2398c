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

/**
 * Ports that fetch (undici, per the WHATWG "bad ports" list) refuses to connect to. The devstack's own
 * health checks, tests and the canary tools use fetch, so no daemon may listen on one of them.
 */
export const FETCH_BLOCKED_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
  179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
  5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

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
    if (ports.some((p) => FETCH_BLOCKED_PORTS.has(p))) continue;
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

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The devstack depends on the blueprint, so the blueprint's tests reach its helpers by path (same source code).
import { startDaemon, waitFor, type DaemonProcess } from '../../devstack/src/process.js';
import { createTestbed, type Testbed } from '../../devstack/src/testbed.js';
import { buildPlatform, defaultPlatformConfig, renderHaproxyConfig, type Target } from '../src/index.js';

/**
 * The rendered haproxy.cfg checked by HAProxy 2.6 itself (`haproxy -c`), for every target, and run
 * against stand-in Patroni REST APIs: exactly the member answering /primary must be UP in `primary`
 * and exactly the ones answering /replica UP in `replicas`.
 */

let bed: Testbed;
let dir: string;


function check(text: string, name: string) {
  const file = join(dir, name);
  writeFileSync(file, text);
  // No stdin: process.ts `run` may hit EPIPE writing to a program that exits at once.
  const r = spawnSync('haproxy', ['-c', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

beforeAll(async () => {
  bed = await createTestbed();
  dir = join(bed.workdir, 'haproxy');
  mkdirSync(dir, { recursive: true });
});

describe('haproxy -c on the rendered config', () => {
  it('accepts the devstack config without warnings', async () => {
    const r = check(renderHaproxyConfig(bed.model), 'local.cfg');
    expect(r.output).toContain('Configuration file is valid');
    expect(r.output).not.toMatch(/WARNING|ALERT/);
    expect(r.code).toBe(0);
  });

  it.each(['docker', 'kubernetes'] as Target[])('accepts the %s config; unresolvable member names only warn (init-addr none)', async (target) => {
    const r = check(renderHaproxyConfig(buildPlatform(defaultPlatformConfig(target))), `${target}.cfg`);
    expect(r.code).toBe(0);
    const warnings = r.output.split('\n').filter((l) => /WARNING|ALERT/.test(l));
    for (const w of warnings) expect(w).toMatch(/could not resolve address/);
  });

  it.each([
    ['a misspelt health-check directive', (s: string) => s.replace('http-check expect status 200', 'http-check expect statuss 200')],
    ['a server without address', (s: string) => s.replace(/server (pg-\d) 127\.0\.0\.1:\d+/, 'server $1')],
    ['a broken default-server option', (s: string) => s.replace('fall 2', 'fall two')],
    ['a bind on a bad address', (s: string) => s.replace(/bind 127\.0\.0\.1:(\d+)/, 'bind 127.0.0.1:$1:99')],
  ])('rejects %s', async (_what, mutate) => {
    const original = renderHaproxyConfig(bed.model);
    const mutated = mutate(original);
    expect(mutated).not.toBe(original);
    const r = check(mutated, 'mutated.cfg');
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/ALERT/);
  });
});

describe('HAProxy health checks against stand-in Patroni REST APIs', () => {
  const servers: Server[] = [];
  let haproxy: DaemonProcess | undefined;
  afterAll(async () => {
    await haproxy?.stop('SIGTERM', 5000);
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('marks exactly the /primary member UP in primary and the /replica members UP in replicas', async () => {
    const pg = bed.model.postgres;
    const leader = pg.members[1]!.name;
    const seen: string[] = [];
    for (const m of pg.members) {
      const role = m.name === leader ? 'primary' : 'replica';
      const server = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.statusCode = req.url === `/${role}` ? 200 : 503;
        res.end();
      });
      await new Promise<void>((r) => server.listen(m.restPort, m.host, r));
      servers.push(server);
    }
    const cfg = join(dir, 'run.cfg');
    writeFileSync(cfg, renderHaproxyConfig(bed.model));
    haproxy = startDaemon({ name: 'haproxy', command: 'haproxy', args: ['-db', '-f', cfg], logFile: join(dir, 'haproxy.log') });
    const upIn = async () => {
      const csv = await (await fetch(`http://${pg.haproxy.host}:${pg.haproxy.statsPort}/;csv`)).text();
      const up: Record<string, string[]> = {};
      for (const line of csv.split('\n')) {
        const f = line.split(',');
        if (f[17] === 'UP' && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND') (up[f[0]!] ??= []).push(f[1]!);
      }
      return up;
    };
    const others = pg.members.filter((m) => m.name !== leader).map((m) => m.name);
    await waitFor('HAProxy to see 1 primary and the replicas', async () => {
      const up = await upIn();
      return up.primary?.join() === leader && up.replicas?.sort().join() === others.join();
    }, { timeoutMs: 20_000, logFile: haproxy.logFile });
    expect(seen).toContain('HEAD /primary');
    expect(seen).toContain('HEAD /replica');
    const metrics = await fetch(`http://${pg.haproxy.host}:${pg.haproxy.statsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('haproxy_server_status');
  });
});

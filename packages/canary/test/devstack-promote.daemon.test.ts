import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { endpointString } from '@numbering/blueprint';
import { Supervisor, createTestbed, openStack, renderSupervisordConf, startDaemon, waitFor, writeNginxConf, type DaemonProcess, type ProgramSpec, type StackContext, type Testbed } from '@numbering/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devstackTarget, supervisorRestart } from '../src/targets/devstack.js';

/**
 * `canary promote` on a devstack directory with a real supervisord and a real nginx. The two
 * releases are supervisord programs, as on the devstack, but tiny stand-ins for the service: they
 * answer with their RELEASE and SERVICE_VERSION from the environment supervisord gives them. Promote
 * must end with the stable program restarted at the canary's version, weight 0, and no failed
 * request through nginx on the way.
 */

const execFileAsync = promisify(execFile);
const FAKE_RELEASE = `
const http = require('node:http');
const { HOST, PORT, RELEASE, SERVICE_VERSION } = process.env;
http.createServer((req, res) => {
  res.writeHead(200, { 'x-release': RELEASE, 'x-version': SERVICE_VERSION, 'content-type': 'text/plain' });
  res.end(RELEASE + ' ' + SERVICE_VERSION);
}).listen(Number(PORT), HOST);
process.on('SIGTERM', () => process.exit(0));
`;

let bed: Testbed;
let ctx: StackContext;
let nginx: DaemonProcess | undefined;
let supervisor: Supervisor | undefined;
let script: string;

/** The release programs as the devstack declares them (name, env from the model), running the stand-in. */
const programs = (c: StackContext): ProgramSpec[] =>
  c.model.service.releases.map((r) => ({
    name: r.name,
    group: 'numbering',
    command: process.execPath,
    args: [script],
    env: { HOST: r.host, PORT: String(r.port), RELEASE: r.release, SERVICE_VERSION: r.version },
    startSecs: 0,
    stopWaitSecs: 5,
    logFile: join(c.workdir, 'logs', `${r.name}.out`),
  }));

function through(c: StackContext): Promise<{ release: string; version: string } | { error: string }> {
  return new Promise((resolve) => {
    get(`http://${endpointString(c.model.canary.listen)}/v1/ping`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve({ release: String(res.headers['x-release']), version: String(res.headers['x-version']) }) : resolve({ error: `HTTP ${res.statusCode}` })));
    }).on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

beforeAll(async () => {
  bed = await createTestbed();
  ctx = openStack({ workdir: bed.workdir, set: { 'local.portOffset': bed.model.config.local.portOffset, 'canary.stableVersion': '1.0.0', 'canary.canaryVersion': '1.1.0', 'canary.weight': 30 } });
  script = join(bed.workdir, 'fake-release.cjs');
  writeFileSync(script, FAKE_RELEASE);
  supervisor = new Supervisor(ctx.workdir);
  writeFileSync(supervisor.conf, renderSupervisordConf(ctx.workdir, programs(ctx)), { mode: 0o600 });
  await execFileAsync('supervisord', ['-c', supervisor.conf]);
  await waitFor('supervisord', () => supervisor!.pid() !== undefined, { timeoutMs: 10_000 });
  await execFileAsync('supervisorctl', ['-c', supervisor.conf, 'start', 'numbering-stable', 'numbering-canary']);
  for (const r of ctx.model.service.releases) {
    await waitFor(r.name, async () => (await fetch(`http://${endpointString(r)}/`).catch(() => undefined))?.ok === true, { timeoutMs: 15_000 });
  }
  await writeNginxConf(ctx);
  const c = ctx.model.canary;
  nginx = startDaemon({ name: 'nginx', command: 'nginx', args: ['-p', c.prefix, '-c', join(c.prefix, 'nginx.conf'), '-e', c.errorLog, '-g', 'daemon off;'], logFile: join(bed.workdir, 'logs', 'nginx.out') });
  await waitFor('nginx', async () => (await fetch(`http://${endpointString(c.listen)}/healthz`).catch(() => undefined))?.ok === true, { timeoutMs: 15_000 });
});

afterAll(async () => {
  await nginx?.stop('SIGQUIT', 10_000);
  const pid = supervisor?.pid();
  if (pid) {
    await execFileAsync('supervisorctl', ['-c', supervisor!.conf, 'shutdown']).catch(() => process.kill(pid, 'SIGTERM'));
    await waitFor('supervisord to exit', () => supervisor!.pid() === undefined, { timeoutMs: 30_000 });
  }
  bed?.dispose();
});

describe('canary promote on the devstack (real supervisord and nginx)', () => {
  it('restarts stable at the canary version and moves all traffic back to it, losing no request', async () => {
    const before = await through(ctx);
    expect('error' in before).toBe(false);
    const stablePidBefore = (await supervisor!.status()).get('numbering-stable')?.pid;

    let done = false;
    const seen: Record<string, number> = {};
    const load = (async () => {
      while (!done) {
        const r = await through(ctx);
        const key = 'error' in r ? `error ${r.error}` : `${r.release} ${r.version}`;
        seen[key] = (seen[key] ?? 0) + 1;
      }
    })();
    const lines: string[] = [];
    const t0 = Date.now();
    await devstackTarget({
      workdir: bed.workdir,
      log: (l) => lines.push(l),
      // the stand-ins answer on every path, so readiness is their /health/ready answering 200
      ops: { restartRelease: supervisorRestart({ programs, readyTimeoutMs: 15_000 }) },
    }).promote();
    const promoteMs = Date.now() - t0;
    // a little traffic after promote, then stop
    await new Promise((r) => setTimeout(r, 300));
    done = true;
    await load;
    console.log(`promote took ${promoteMs} ms; responses during and after it:`, seen);

    expect(Object.keys(seen).filter((k) => k.startsWith('error'))).toEqual([]);
    expect(await through(openStack({ workdir: bed.workdir }))).toEqual({ release: 'stable', version: '1.1.0' });
    const stack = JSON.parse(readFileSync(join(bed.workdir, 'stack.json'), 'utf8')) as Record<string, unknown>;
    expect(stack).toMatchObject({ 'canary.weight': 0, 'canary.stableVersion': '1.1.0', 'canary.canaryVersion': '1.1.0' });
    const status = await supervisor!.status();
    expect(status.get('numbering-stable')?.state).toBe('RUNNING');
    expect(status.get('numbering-stable')?.pid).not.toBe(stablePidBefore);
    // the canary program was not touched
    expect(status.get('numbering-canary')?.state).toBe('RUNNING');
    expect(readFileSync(supervisor!.conf, 'utf8')).toMatch(/SERVICE_VERSION="1\.1\.0"/);
    expect(lines.join('\n')).toMatch(/restarting numbering-stable as version 1\.1\.0 \(was 1\.0\.0\)/);
  });
});

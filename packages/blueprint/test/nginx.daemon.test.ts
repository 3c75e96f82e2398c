import { request } from 'node:http';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, renderNginxConf, RELEASE_HEADER, type PlatformModel, type Target } from '../src/index.js';
import { nginxTestInContainerLayout, nginxTestLocal } from './support/nginx.js';
import { createTestbed, output, scratch, startDaemon, waitFor, type DaemonProcess } from './support/tools.js';

const dirs = scratch('nginx');
afterAll(() => dirs.cleanup());

const modelFor = (target: Target, weight: number, workdir: string) =>
  buildPlatform(defaultPlatformConfig(target, { 'canary.weight': weight }), { workdir });
const withWeight = (model: PlatformModel, weight: number): PlatformModel => ({ ...model, canary: { ...model.canary, weight } });

describe('nginx -t accepts the rendered config', () => {
  for (const weight of [0, 1, 30, 99, 100]) {
    it(`local devstack layout at weight ${weight}`, async () => {
      const model = modelFor('local', weight, dirs.dir());
      const r = await nginxTestLocal(model, renderNginxConf(model));
      expect(r.code, output(r)).toBe(0);
      expect(r.stderr).toContain('test is successful');
    });
  }

  for (const target of ['docker', 'kubernetes'] as const) {
    for (const weight of [0, 30, 100]) {
      it(`${target} container layout (prefix ${modelFor(target, 0, '/').canary.prefix}) at weight ${weight}`, async () => {
        const model = modelFor(target, weight, '/unused');
        const r = await nginxTestInContainerLayout(model, renderNginxConf(model), dirs.dir());
        expect(r.code, output(r)).toBe(0);
        expect(r.stderr).toContain('test is successful');
      });
    }
  }

  // The checks above must be able to fail: the same harness rejects a broken directive.
  const breakages: [string, (conf: string) => string, RegExp][] = [
    ['an unknown directive', (c) => c.replace('keepalive 32;', 'keepalive_connections 32;'), /unknown directive "keepalive_connections"/],
    ['weight=0', (c) => c.replace(/weight=\d+/, 'weight=0'), /invalid parameter "weight=0"/],
    ['a missing upstream', (c) => c.replace('proxy_pass http://numbering;', 'proxy_pass http://numbering-typo;'), /host not found in upstream/],
  ];
  for (const [what, breakIt, message] of breakages) {
    it(`fails on ${what}, locally and in the container layout`, async () => {
      const local = modelFor('local', 30, dirs.dir());
      const r1 = await nginxTestLocal(local, breakIt(renderNginxConf(local)));
      expect(r1.code, output(r1)).not.toBe(0);
      expect(r1.stderr).toMatch(message);
      const k8s = modelFor('kubernetes', 30, '/unused');
      const r2 = await nginxTestInContainerLayout(k8s, breakIt(renderNginxConf(k8s)), dirs.dir());
      expect(r2.code, output(r2)).not.toBe(0);
      expect(r2.stderr).toMatch(message);
    });
  }

  it('fails in the container layout when a release host does not resolve', async () => {
    const model = modelFor('docker', 30, '/unused');
    const conf = renderNginxConf(model).replace('server numbering-canary:3000', 'server numbering-nowhere.invalid:3000');
    const r = await nginxTestInContainerLayout(model, conf, dirs.dir());
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stderr).toMatch(/host not found in upstream "numbering-nowhere\.invalid:3000"/);
  });
});

// --- real traffic -------------------------------------------------------------------------------

/** Stands in for a release of the service: answers 200 with its name in the body and in X-Release. */
const UPSTREAM_JS = `
const http = require('node:http');
const [port, name] = [Number(process.argv[2]), process.argv[3]];
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', '${RELEASE_HEADER}': name });
  res.end(name + '\\n');
}).listen(port, '127.0.0.1', () => console.log(name + ' listening on ' + port));
`;

interface Reply {
  status: number;
  release: string | undefined;
  body: string;
}

/** One request on a fresh connection (`Connection: close`), as a client that never reuses sockets. */
function get(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, release: res.headers[RELEASE_HEADER.toLowerCase()] as string | undefined, body: body.trim() }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function load(port: number, requests: number, concurrency = 8): Promise<Reply[]> {
  const replies: Reply[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < requests) {
        sent++;
        replies.push(await get(port, `/v1/numbers/probe-${sent}`));
      }
    }),
  );
  return replies;
}

const count = (replies: Reply[], pick: (r: Reply) => unknown) => {
  const counts: Record<string, number> = {};
  for (const r of replies) counts[String(pick(r))] = (counts[String(pick(r))] ?? 0) + 1;
  return counts;
};

describe('nginx splits real traffic by the rendered weight', () => {
  let model: PlatformModel;
  let workdir: string;
  const daemons = new Map<string, DaemonProcess>();
  const REQUESTS = 1000;

  const startRelease = async (release: 'stable' | 'canary') => {
    const r = model.service.releases.find((x) => x.release === release)!;
    const d = startDaemon({ name: r.name, command: process.execPath, args: [join(workdir, 'upstream.cjs'), String(r.port), release], logFile: join(workdir, 'logs', `${r.name}.log`) });
    daemons.set(release, d);
    await waitFor(`${r.name} on ${r.port}`, async () => (await get(r.port, '/')).status === 200, { timeoutMs: 10_000, logFile: d.logFile });
  };

  const startNginx = async (weight: number) => {
    const m = withWeight(model, weight);
    const check = await nginxTestLocal(m, renderNginxConf(m));
    expect(check.code, output(check)).toBe(0);
    writeFileSync(m.canary.errorLog, '');
    const d = startDaemon({
      name: 'nginx',
      command: 'nginx',
      args: ['-p', `${m.canary.prefix}/`, '-c', join(m.canary.prefix, 'nginx.conf'), '-e', m.canary.errorLog, '-g', 'daemon off;'],
      logFile: join(workdir, 'logs', 'nginx.out'),
    });
    daemons.set('nginx', d);
    await waitFor('nginx /healthz', async () => (await get(m.canary.listen.port, '/healthz')).status === 200, { timeoutMs: 10_000, logFile: d.logFile });
    return d;
  };

  const stopAll = async () => {
    for (const d of daemons.values()) await d.stop('SIGTERM', 5_000);
    daemons.clear();
  };

  beforeAll(async () => {
    const bed = await createTestbed();
    model = bed.model;
    workdir = bed.workdir;
    writeFileSync(join(workdir, 'upstream.cjs'), UPSTREAM_JS);
  });
  afterAll(async () => {
    await stopAll();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  for (const weight of [30, 0, 100]) {
    it(`weight ${weight}: ${weight}% of ${REQUESTS} requests reach the canary, each names its release; with the canary killed all go to stable`, async () => {
      await startRelease('stable');
      await startRelease('canary');
      const nginx = await startNginx(weight);
      try {
        const port = model.canary.listen.port;
        const replies = await load(port, REQUESTS);
        expect(count(replies, (r) => r.status)).toEqual({ 200: REQUESTS });
        // Every response names the release that produced it, and the header agrees with the body.
        for (const r of replies) expect(r.release).toBe(r.body);
        const canaryShare = (100 * (count(replies, (r) => r.release).canary ?? 0)) / REQUESTS;
        console.log(`weight ${weight}: canary share ${canaryShare.toFixed(2)}% of ${REQUESTS} requests`);
        expect(Math.abs(canaryShare - weight)).toBeLessThanOrEqual(1);

        await daemons.get('canary')!.stop('SIGKILL');
        const fallback = await load(port, REQUESTS);
        expect(count(fallback, (r) => `${r.status} ${r.release}`)).toEqual({ '200 stable': REQUESTS });
        if (weight > 0) {
          // The fallback really happened: nginx tried the dead canary and moved on to stable.
          const canaryPort = model.service.releases[1].port;
          const errors = existsSync(model.canary.errorLog) ? readFileSync(model.canary.errorLog, 'utf8') : '';
          expect(errors).toMatch(new RegExp(`connect\\(\\) failed \\(111: Connection refused\\)[^\\n]*upstream: "http://127\\.0\\.0\\.1:${canaryPort}/`));
        }
        expect(nginx.alive()).toBe(true);
      } finally {
        await stopAll();
      }
    });
  }
});

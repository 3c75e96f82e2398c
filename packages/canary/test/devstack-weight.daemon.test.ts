import { createServer, get, type Server } from 'node:http';
import { join } from 'node:path';
import { createTestbed, openStack, startDaemon, waitFor, writeNginxConf, type DaemonProcess, type StackContext, type Testbed } from '@numbering/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devstackTarget } from '../src/targets/devstack.js';
import type { WeightTarget } from '../src/targets/types.js';

/**
 * `canary weight N` on a devstack directory with a real nginx (Debian's 1.22) in front of two small
 * HTTP servers that answer like the releases (X-Release header). The weight goes through stack.json,
 * the rendered nginx.conf, `nginx -t` and `nginx -s reload`; the split is then measured.
 */

let bed: Testbed;
let ctx: StackContext;
let nginx: DaemonProcess | undefined;
let target: WeightTarget;
const releases: Server[] = [];

/** One request on a fresh connection (the recipe's client that sees no resets during reloads). */
function request(url: string): Promise<{ status: number; release: string } | { error: string }> {
  return new Promise((resolve) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, release: String(res.headers['x-release']) }));
    }).on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

async function split(n: number): Promise<{ stable: number; canary: number; failed: number }> {
  const { host, port } = ctx.model.canary.listen;
  const counts = { stable: 0, canary: 0, failed: 0 };
  // 4 at a time, like a small load generator
  let left = n;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (left-- > 0) {
        const r = await request(`http://${host}:${port}/v1/ping`);
        if ('error' in r || r.status !== 200) counts.failed++;
        else if (r.release === 'canary') counts.canary++;
        else counts.stable++;
      }
    }),
  );
  return counts;
}

beforeAll(async () => {
  bed = await createTestbed();
  // The devstack directory of the testbed: its stack.json carries the free port offset.
  ctx = openStack({ workdir: bed.workdir, set: { 'local.portOffset': bed.model.config.local.portOffset } });
  for (const r of ctx.model.service.releases) {
    const server = createServer((_req, res) => res.writeHead(200, { 'x-release': r.release }).end(r.release));
    await new Promise<void>((resolve) => server.listen(r.port, r.host, resolve));
    releases.push(server);
  }
  await writeNginxConf(ctx);
  const c = ctx.model.canary;
  nginx = startDaemon({
    name: 'nginx',
    command: 'nginx',
    args: ['-p', c.prefix, '-c', join(c.prefix, 'nginx.conf'), '-e', c.errorLog, '-g', 'daemon off;'],
    logFile: join(bed.workdir, 'logs', 'nginx.out'),
  });
  await waitFor('nginx /healthz', async () => (await fetch(`http://${c.listen.host}:${c.listen.port}/healthz`)).ok, { timeoutMs: 15_000, logFile: nginx.logFile });
  target = devstackTarget({ workdir: bed.workdir });
});

afterAll(async () => {
  await nginx?.stop('SIGQUIT', 10_000);
  await Promise.all(releases.map((s) => new Promise((r) => s.close(r))));
  bed?.dispose();
});

describe('canary weight on the devstack (real nginx)', () => {
  it('starts with everything on stable', async () => {
    expect(await target.getWeight()).toBe(0);
    expect(await split(100)).toEqual({ stable: 100, canary: 0, failed: 0 });
  });

  it('moves 30 % to the canary after `weight 30`', async () => {
    await target.setWeight(30);
    expect(await target.getWeight()).toBe(30);
    // setWeight resolves once the old workers are gone, so the very first requests see the new split
    const s = await split(400);
    expect(s.failed).toBe(0);
    // smooth weighted round robin per worker: close to 30 %, not a random draw
    expect(s.canary / 400).toBeGreaterThan(0.25);
    expect(s.canary / 400).toBeLessThan(0.35);
  });

  it('sends everything to the canary at 100 and nothing at 0 (rollback)', async () => {
    await target.setWeight(100);
    expect(await split(100)).toEqual({ stable: 0, canary: 100, failed: 0 });
    await target.rollback();
    expect(await target.getWeight()).toBe(0);
    expect(await split(100)).toEqual({ stable: 100, canary: 0, failed: 0 });
  });

  it('loses no request while the weight changes under load', async () => {
    const weights = [10, 50, 90, 10, 0];
    let done = false;
    const load = (async () => {
      const total = { stable: 0, canary: 0, failed: 0 };
      while (!done) {
        const s = await split(20);
        total.stable += s.stable;
        total.canary += s.canary;
        total.failed += s.failed;
      }
      return total;
    })();
    for (const w of weights) {
      await target.setWeight(w);
      await new Promise((r) => setTimeout(r, 300));
    }
    done = true;
    const total = await load;
    expect(total.failed).toBe(0);
    expect(total.canary).toBeGreaterThan(0);
    expect(total.stable + total.canary).toBeGreaterThan(100);
    console.log(`weight changes ${weights.join(' -> ')} under load: ${total.stable + total.canary} requests, ${total.canary} on the canary, ${total.failed} failed`);
  });

  it('refuses weight 150 and leaves nginx as it was', async () => {
    await expect(target.setWeight(150)).rejects.toThrow(/canary\.weight must be an integer from 0 to 100/);
    expect(await target.getWeight()).toBe(0);
  });
});

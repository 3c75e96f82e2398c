import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPlatformConfig } from '@numbering/blueprint';
import { describe, expect, it } from 'vitest';
import { main, parseDuration, type MainIo } from '../src/main.js';
import type { WeightTarget } from '../src/targets/types.js';

/** `canary` argv -> exit code and output, with a recording target instead of a devstack or Pulumi stack. */
async function cli(argv: string[], opts: { weight?: number } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const calls: string[] = [];
  const built: string[] = [];
  let weight = opts.weight ?? 0;
  const target: WeightTarget = {
    name: 'fake',
    getWeight: async () => weight,
    setWeight: async (w) => {
      calls.push(`weight ${w}`);
      weight = w;
    },
    promote: async () => {
      calls.push('promote');
    },
    rollback: async () => {
      calls.push('rollback');
      weight = 0;
    },
    platformConfig: async () => defaultPlatformConfig('local'),
  };
  const io: MainIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    targetFor: (stack) => {
      built.push(stack);
      return target;
    },
    sleep: async () => undefined,
  };
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n'), calls, built };
}

/** A port nothing listens on: what a wrong --prometheus address looks like. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('canary CLI', () => {
  it('weight 150: exit 2, names canary.weight and the range, changes nothing', async () => {
    const r = await cli(['weight', '150']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/canary\.weight must be an integer from 0 to 100 .*got "150"/);
    expect(r.built).toEqual([]);
  });

  it.each([['abc'], ['-5'], ['2.5'], ['']])('weight %j: exit 2', async (w) => {
    const r = await cli(['weight', w]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/canary\.weight/);
  });

  it('weight 30 sets it on the target', async () => {
    const r = await cli(['weight', '30', '--stack', 'devstack']);
    expect(r).toMatchObject({ code: 0, calls: ['weight 30'], built: ['devstack'] });
    expect(r.out).toMatch(/fake: canary\.weight 30%/);
  });

  it('weight without N shows the current weight', async () => {
    const r = await cli(['weight', '--stack', 'prod'], { weight: 40 });
    expect(r).toMatchObject({ code: 0, calls: [], built: ['prod'] });
    expect(r.out).toBe('fake: canary.weight 40%');
  });

  it('unknown command: exit 2 with usage', async () => {
    const r = await cli(['deploy']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "deploy"/);
    expect(r.err).toMatch(/usage: pnpm canary <command>/);
  });

  it('no command: exit 2 with usage; help: exit 0', async () => {
    expect((await cli([])).code).toBe(2);
    const help = await cli(['help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/exit codes: 0 ok, 1 .*, 2 usage/);
    expect((await cli(['--help'])).code).toBe(0);
  });

  it.each([
    [['weight', '10', '--stack', 'staging'], /--stack must be devstack, dev or prod/],
    [['run', '--steps', '10,5'], /--steps "10,5": must increase, got 10 then 5/],
    [['run', '--steps', '10,x'], /--steps "10,x": each step is a canary\.weight from 1 to 100/],
    [['run', '--interval', 'soon'], /--interval must be a duration like 500ms, 30s or 2m/],
    [['run', '--max-inconclusive=-1'], /--max-inconclusive must be an integer >= 0, got "-1"/],
    [['analyze', '--window', '1 minute'], /--window: window must be a Prometheus duration/],
    [['analyze', '--max-errors', 'many'], /--max-errors must be an integer >= 0/],
    [['analyze', '--stack', 'prod'], /--prometheus URL is required for --stack prod/],
    [['abtest', '--stack', 'dev'], /--stable-url and --canary-url are required for --stack dev/],
    [['abtest', '-n', '0'], /-n must be an integer >= 1/],
    [['promote', 'now'], /promote: unexpected argument "now"/],
    [['weight', '10', '--frobnicate'], /Unknown option '--frobnicate'/],
  ])('%j: exit 2 with a message', async (argv, message) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.calls).toEqual([]);
  });

  it('promote and rollback call the target', async () => {
    expect(await cli(['promote'])).toMatchObject({ code: 0, calls: ['promote'] });
    expect(await cli(['rollback'])).toMatchObject({ code: 0, calls: ['rollback'] });
  });

  it('analyze against an unreachable Prometheus: exit 1 and says where it looked', async () => {
    const port = await closedPort();
    const r = await cli(['analyze', '--prometheus', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`cannot reach Prometheus at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  });

  it('run with nothing to judge never promotes: it rolls back after the inconclusive retries, exit 1', async () => {
    const port = await closedPort();
    const r = await cli(['run', '--steps', '10,100', '--interval', '0', '--max-inconclusive', '1', '--prometheus', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.calls).toEqual(['weight 10', 'rollback']);
    expect(r.out).toMatch(/rolled back at 10%: analysis inconclusive 2 times in a row/);
  });
});

describe('canary abtest', () => {
  it('load-tests both URLs and writes the report to --out', async () => {
    const servers = ['stable', 'canary'].map((release) => createHttpServer((_req, res) => res.writeHead(200, { 'x-release': release }).end()));
    const urls = await Promise.all(
      servers.map((s) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as { port: number }).port}`)))),
    );
    const dir = mkdtempSync(join(tmpdir(), 'canary-cli-abtest-'));
    try {
      const out = join(dir, 'sub', 'report.html');
      const r = await cli(['abtest', '-n', '20', '-c', '4', '--stable-url', urls[0]!, '--canary-url', urls[1]!, '--out', out, '--stack', 'prod']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/stable\s+100\.0 % 2xx\s+\[200×20\]/);
      expect(r.out).toContain(`report: ${out}`);
      expect(readFileSync(out, 'utf8')).toMatch(/<table>/);
      expect(r.built).toEqual([]);
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['1m', 60_000],
    ['500ms', 500],
    ['2', 2000],
    ['1.5s', 1500],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text, '--interval')).toBe(ms));
});

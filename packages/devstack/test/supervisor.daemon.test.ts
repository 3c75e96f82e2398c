import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Supervisor, renderSupervisordConf, waitFor } from '../src/index.js';
import { createTestbed } from '../src/testbed.js';

describe('supervisord', async () => {
  const { workdir, model } = await createTestbed();
  const port = model.service.releases[0].port;
  const supervisor = new Supervisor(workdir);
  afterAll(() => supervisor.shutdown());

  it('renders a config supervisord accepts, starts programs on demand and restarts one that crashed', async () => {
    mkdirSync(join(workdir, 'logs'), { recursive: true });
    const server = join(workdir, 'server.mjs');
    writeFileSync(server, `import http from 'node:http'; http.createServer((q, s) => s.end(String(process.pid))).listen(${port}, '127.0.0.1');`);
    writeFileSync(supervisor.conf, renderSupervisordConf(workdir, [
      { name: 'echo-pid', group: 'test', command: process.execPath, args: [server], env: { PCT: '100%' }, logFile: join(workdir, 'logs', 'echo.log') },
    ]));
    await supervisor.ensureRunning();
    expect((await supervisor.status()).get('echo-pid')?.state).toBe('STOPPED');

    await supervisor.start(['echo-pid']);
    const pidOf = async () => Number(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    let first = 0;
    await waitFor('echo-pid to answer', async () => (first = await pidOf()) > 0);
    expect((await supervisor.status()).get('echo-pid')).toEqual({ state: 'RUNNING', pid: first });

    process.kill(first, 'SIGKILL');
    let second = 0;
    await waitFor('echo-pid to be restarted', async () => (second = await pidOf()) > 0 && second !== first, { timeoutMs: 20_000 });
    expect(second).not.toBe(first);

    await supervisor.shutdown();
    expect(supervisor.pid()).toBeUndefined();
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('refuses program names and environment values that would corrupt the file', () => {
    expect(() => renderSupervisordConf(workdir, [{ name: 'Bad Name', group: 'g', command: 'x', args: [], logFile: '/dev/null' }])).toThrow(/lowercase/);
    expect(() => renderSupervisordConf(workdir, [{ name: 'ok', group: 'g', command: 'x', args: [], env: { A: 'x"y' }, logFile: '/dev/null' }])).toThrow(/quotes/);
  });
});

describe('supervisordEnv', () => {
  it('drops variables that would change PostgreSQL, Patroni or Python behaviour', async () => {
    const { supervisordEnv } = await import('../src/supervisor.js');
    expect(supervisordEnv({ PATH: '/bin', PGPASSWORD: 'x', PATRONI_NAME: 'y', PYTHONPATH: 'z', HOME: '/root' })).toEqual({ PATH: '/bin', HOME: '/root' });
  });
});

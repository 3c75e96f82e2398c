import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { nginxDirectories, type PlatformModel } from '../../src/index.js';
import { run, type RunResult } from './tools.js';

/** `nginx -t` on a devstack config, in its own prefix, exactly as the devstack starts it. */
export async function nginxTestLocal(model: PlatformModel, conf: string): Promise<RunResult> {
  for (const dir of nginxDirectories(model)) mkdirSync(dir, { recursive: true });
  const file = join(model.canary.prefix, 'nginx.conf');
  writeFileSync(file, conf);
  return run('nginx', ['-t', '-p', `${model.canary.prefix}/`, '-c', file], { timeoutMs: 30_000 });
}

/**
 * `nginx -t` on a Docker or Kubernetes config, unchanged, in the layout the container sees: inside
 * a private mount namespace (`unshare --mount`, root only; nothing leaks to the host) the scratch dir
 * is mounted on the prefix (`/etc/nginx`), a fresh tmpfs on /tmp (pid and temp files), and an
 * /etc/hosts that resolves the release hosts, because nginx resolves upstream names while parsing.
 */
export async function nginxTestInContainerLayout(model: PlatformModel, conf: string, scratchDir: string): Promise<RunResult> {
  const hosts = [...new Set(model.service.releases.map((r) => r.host).filter((h) => !isIP(h)))];
  writeFileSync(join(scratchDir, 'nginx.conf'), conf);
  writeFileSync(join(scratchDir, 'hosts'), ['127.0.0.1 localhost', ...hosts.map((h) => `127.0.0.1 ${h}`), ''].join('\n'));
  const script = [
    'set -e',
    'mount --bind "$1" "$2"',
    'mount --bind "$1/hosts" /etc/hosts',
    'mount -t tmpfs tmpfs /tmp',
    // Node gives a child's stdout as a socket, which /dev/stdout (the access log) cannot open; a file can.
    'exec nginx -t -p "$2/" -c "$2/nginx.conf" >/tmp/nginx.stdout',
  ].join('\n');
  return run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'nginx-test', scratchDir, model.canary.prefix], { timeoutMs: 30_000 });
}

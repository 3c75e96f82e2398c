import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The devstack depends on the blueprint, so the blueprint's tests reach its helpers by path (same source code).
import { startEtcd, type EtcdHandle } from '../../devstack/src/daemons/etcd.js';
import { createTestbed, type Testbed } from '../../devstack/src/testbed.js';
import { buildPlatform, defaultPlatformConfig, exampleSecrets, pgbackrestArchiveCommand, renderPatroniConfig } from '../src/index.js';

/**
 * The rendered patroni.yml checked by Patroni 3.0.2 itself (`patroni --validate-config`). The validator
 * wants every listen port free and every etcd host reachable (a throwaway etcd on the testbed's port),
 * and it refuses loopback connect addresses, which the single-host devstack needs. So it checks a copy
 * whose connect addresses say 127.0.0.2: another loopback address, which the validator only inspects
 * as text (it never connects there), so nothing on the machine has to be set up, no /etc/hosts entry.
 */

let bed: Testbed;
let etcd: EtcdHandle | undefined;
let dir: string;


const forValidator = (yaml: string) => yaml.replaceAll(/^(\s+connect_address: )127\.0\.0\.1:/gm, '$1127.0.0.2:');

function validate(yaml: string, name: string): { code: number; output: string } {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  const r = spawnSync('patroni', ['--validate-config', file], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

// With WAL archiving on, as the devstack renders it.
const pgbackrest = () => ({ configFile: join(dir, 'pgbackrest.conf'), repoPath: join(dir, 'repo'), logPath: dir, lockPath: dir, spoolPath: dir });
const rendered = (i = 0) => {
  const member = bed.model.postgres.members[i]!;
  return renderPatroniConfig(bed.model, member, exampleSecrets(), { postBootstrapSqlFile: join(dir, 'bootstrap.sql'), archiveCommand: pgbackrestArchiveCommand(bed.model, member, pgbackrest()) });
};

beforeAll(async () => {
  bed = await createTestbed();
  dir = join(bed.workdir, 'patroni');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  const dcs = bed.model.postgres.dcs;
  if (dcs.kind !== 'etcd3') throw new Error('local model without etcd3');
  etcd = await startEtcd({ name: 'validate', client: dcs.hosts[0]!, dataDir: join(bed.workdir, 'etcd'), logFile: join(bed.workdir, 'etcd.log'), clusterToken: 'validate' });
});

afterAll(async () => {
  await etcd?.stop();
});

describe('patroni --validate-config on the rendered patroni.yml', () => {
  it('accepts every member of the devstack config', () => {
    for (let i = 0; i < bed.model.postgres.members.length; i++) {
      const r = validate(forValidator(rendered(i)), `member-${i}.yml`);
      expect(r.output).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('accepts the kubernetes config (Kubernetes API as DCS), moved onto this machine', () => {
    const k8s = buildPlatform(defaultPlatformConfig('kubernetes'));
    const member = bed.model.postgres.members[0]!;
    // Listen ports and bin_dir are the only things the validator checks against the machine it runs on.
    const yaml = renderPatroniConfig(k8s, k8s.postgres.members[0]!, exampleSecrets())
      .replace(/^(\s+listen: )0\.0\.0\.0:8008$/m, `$1127.0.0.1:${member.restPort}`)
      .replace(/^(\s+listen: )0\.0\.0\.0:5432$/m, `$1127.0.0.1:${member.pgPort}`)
      .replace(/^(\s+bin_dir: ).*$/m, `$1${bed.model.postgres.binDir}`)
      .replace(/^(\s+data_dir: ).*$/m, `$1${join(dir, 'k8s-data')}`);
    expect(yaml).toMatch(/^kubernetes:$/m);
    const r = validate(yaml, 'kubernetes.yml');
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
    const broken = validate(yaml.replace(/^(\s+)labels:/m, '$1labelz:'), 'kubernetes-broken.yml');
    expect(broken.code).toBe(1);
    expect(broken.output).toMatch(/kubernetes\.labels/);
  });

  it('refuses the loopback connect_address itself (why the copy says 127.0.0.2)', () => {
    const r = validate(rendered(), 'loopback.yml');
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/postgresql\.connect_address .*must not contain "127\.0\.0\.1"/);
  });

  it.each([
    ['a wrong bin_dir', (s: string) => s.replace(/bin_dir: .*/, 'bin_dir: /usr/lib/postgresql/0/bin'), /postgresql\.bin_dir/],
    ['an unreachable etcd', (s: string) => s.replace(/(etcd3:\n\s+hosts:\n\s+- 127\.0\.0\.1:)\d+/, '$11'), /etcd3\.hosts.*not reachable/],
    ['no rewind user', (s: string) => s.replace(/\n\s+rewind:\n\s+username: .*\n\s+password: .*/, ''), /postgresql\.authentication\.rewind/],
    ['no initdb options', (s: string) => s.replace(/\n {2}initdb:\n(?: {4}- .*\n)+/, '\n'), /bootstrap\.initdb/],
    ['a bad restapi.listen', (s: string) => s.replace(/(restapi:\n\s+listen: )\S+/, '$1nowhere'), /restapi\.listen/],
  ])('rejects %s', (_what, mutate, message) => {
    const original = forValidator(rendered());
    const mutated = mutate(original);
    expect(mutated).not.toBe(original);
    const r = validate(mutated, 'mutated.yml');
    expect(r.code).toBe(1);
    expect(r.output).toMatch(message);
  });

  it('rejects a config whose PostgreSQL port is already taken', async () => {
    const member = bed.model.postgres.members[0]!;
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(member.pgPort, member.host, r));
    try {
      const r = validate(forValidator(rendered()), 'taken.yml');
      expect(r.code).toBe(1);
      expect(r.output).toContain(`Port ${member.pgPort} is already in use`);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

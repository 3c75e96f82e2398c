import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PGBACKREST_MEMBER_CLIENT_CN,
  PGBACKREST_REPO_CLIENT_CN,
  pgbackrestStanza,
  pgbackrestTlsArchiveCommand,
  renderPgbackrestMemberConf,
  renderPgbackrestRepoHostConf,
  type PatroniMember,
  type PgbackrestTlsCerts,
  type PgbackrestTlsHostLayout,
  type PgbackrestTlsOptions,
} from '../src/index.js';
import { createTestbed, runAsPostgres, startDaemon, userIds, waitFor, type DaemonProcess } from './support/tools.js';
import type { Testbed } from '../../devstack/src/testbed.js';

/**
 * The TLS layout checked by pgBackRest 2.45 itself: a repository host and one `pgbackrest server`
 * per Patroni member, all on 127.0.0.1 at distinct ports (the endpoints the renderers take as
 * options), with certificates from a throwaway CA, and a real PostgreSQL 15 for the first member
 * whose archive_command is the rendered one. From the repository host: stanza-create, check, a full
 * backup and info. Clients whose certificate the servers must not accept are refused.
 */

let bed: Testbed;
let owner: { uid: number; gid: number };
let opts: PgbackrestTlsOptions;
let repoConf: string;
let member: PatroniMember;
const servers: DaemonProcess[] = [];
let pgStarted = false;

const asPostgres = (command: string, args: string[], timeout = 180_000) => runAsPostgres(bed.workdir, command, args, timeout);
const pgbackrest = (config: string, ...args: string[]) => asPostgres('pgbackrest', [`--config=${config}`, `--stanza=${pgbackrestStanza(bed.model)}`, ...args]);
const bin = (name: string) => join(bed.model.postgres.binDir, name);

function mkdirOwned(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chownSync(dir, owner.uid, owner.gid);
  return dir;
}

function writeOwned(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o640 });
  chownSync(file, owner.uid, owner.gid);
}

/** A port nobody listens on at 127.0.0.1 right now (the kernel's pick). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A key and a certificate signed by the CA in `dir` (or by `caName`), readable only by postgres. */
function issue(dir: string, name: string, subject: string, ext: string, caName = 'ca'): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  openssl(['x509', '-req', '-in', csr, '-CA', join(dir, `${caName}.crt`), '-CAkey', join(dir, `${caName}.key`), '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', extFile]);
  for (const f of [key, cert]) {
    chmodSync(f, 0o600);
    chownSync(f, owner.uid, owner.gid);
  }
  return { cert, key };
}

function certificates(dir: string) {
  mkdirOwned(dir);
  for (const ca of ['ca', 'other-ca']) openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${ca}.key`), '-out', join(dir, `${ca}.crt`), '-days', '1', '-subj', `/CN=${ca}`]);
  chmodSync(join(dir, 'ca.crt'), 0o644);
  const client = 'extendedKeyUsage=clientAuth';
  return {
    ca: join(dir, 'ca.crt'),
    // With IP:127.0.0.1 as the only SAN, pgBackRest 2.45 refuses ("unable to find hostname '127.0.0.1' in
    // certificate common name or subject alternative names"): it matches DNS SANs, so the IP is spelled
    // as a DNS entry too. On Kubernetes the SANs are the pod DNS names.
    server: issue(dir, 'server', '/CN=127.0.0.1', 'subjectAltName=DNS:127.0.0.1,IP:127.0.0.1\nextendedKeyUsage=serverAuth'),
    repoClient: issue(dir, 'repo-client', `/CN=${PGBACKREST_REPO_CLIENT_CN}`, client),
    memberClient: issue(dir, 'member-client', `/CN=${PGBACKREST_MEMBER_CLIENT_CN}`, client),
    // Signed by the right CA, but its CN is in no tls-server-auth.
    intruder: issue(dir, 'intruder', '/CN=pgbackrest-intruder', client),
    // The right CN, signed by a CA the servers do not trust.
    forged: issue(dir, 'forged', `/CN=${PGBACKREST_REPO_CLIENT_CN}`, client, 'other-ca'),
  };
}

let certs: ReturnType<typeof certificates>;

function hostLayout(root: string, clientCert: { cert: string; key: string }): PgbackrestTlsHostLayout {
  const tls: PgbackrestTlsCerts = { caFile: certs.ca, serverCertFile: certs.server.cert, serverKeyFile: certs.server.key, clientCertFile: clientCert.cert, clientKeyFile: clientCert.key };
  return { configFile: join(root, 'pgbackrest.conf'), logPath: join(root, 'log'), lockPath: join(root, 'lock'), spoolPath: join(root, 'spool'), certs: tls };
}

/** A `pgbackrest server` from a rendered config, up once it accepts TCP connections. */
async function startServer(name: string, config: string, port: number): Promise<void> {
  const server = startDaemon({ name, command: 'pgbackrest', args: [`--config=${config}`, 'server'], logFile: join(dirname(config), 'server.out'), user: 'postgres', cwd: dirname(config), env: { LC_ALL: 'C.UTF-8' } });
  servers.push(server);
  await waitFor(`${name} listening on 127.0.0.1:${port}`, async () => server.alive() && !(await portFree(port)), { timeoutMs: 15_000, logFile: server.logFile });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

beforeAll(async () => {
  bed = await createTestbed();
  owner = userIds('postgres');
  const root = mkdirOwned(join(bed.workdir, 'pgbackrest'));
  certs = certificates(join(root, 'certs'));
  const members = bed.model.postgres.members;
  member = members[0]!;
  const ports = { repo: await freePort(), members: Object.fromEntries(await Promise.all(members.map(async (m) => [m.name, await freePort()] as const))) };
  const repoRoot = join(root, 'repo-host');
  opts = {
    repoHost: { ...hostLayout(repoRoot, certs.repoClient), repoPath: join(repoRoot, 'repo') },
    member: (m) => hostLayout(join(root, m.name), certs.memberClient),
    endpoints: { repoHost: { host: '127.0.0.1', port: ports.repo }, members: Object.fromEntries(members.map((m) => [m.name, { host: '127.0.0.1', port: ports.members[m.name]! }])) },
    listenAddress: '127.0.0.1',
  };
  for (const dir of [repoRoot, opts.repoHost.repoPath, opts.repoHost.logPath, opts.repoHost.lockPath, opts.repoHost.spoolPath]) mkdirOwned(dir);
  repoConf = opts.repoHost.configFile;
  writeOwned(repoConf, renderPgbackrestRepoHostConf(bed.model, opts));
  for (const m of members) {
    const l = opts.member(m);
    for (const dir of [dirname(l.configFile), l.logPath, l.lockPath, l.spoolPath]) mkdirOwned(dir);
    writeOwned(l.configFile, renderPgbackrestMemberConf(bed.model, m, opts));
  }
  // Only the first member runs PostgreSQL; the others' servers answer, their databases do not.
  for (const dir of [dirname(dirname(member.dataDir)), dirname(member.dataDir)]) mkdirOwned(dir);
  const initdb = asPostgres(bin('initdb'), ['-D', member.dataDir, '-A', 'peer', '--no-sync', '-E', 'UTF8', '--locale', 'C.UTF-8']);
  expect(initdb.code, initdb.out).toBe(0);
  appendFileSync(join(member.dataDir, 'postgresql.conf'), `archive_mode = on\narchive_command = '${pgbackrestTlsArchiveCommand(bed.model, member, opts).replaceAll("'", "''")}'\n`);
  const options = [`-c port=${member.pgPort}`, "-c listen_addresses=''", `-c unix_socket_directories=${member.socketDir}`].join(' ');
  const start = asPostgres(bin('pg_ctl'), ['-D', member.dataDir, '-l', join(dirname(member.dataDir), 'postgres.log'), '-w', '-t', '60', '-o', options, 'start']);
  expect(start.code, start.out).toBe(0);
  pgStarted = true;

  const t0 = performance.now();
  await startServer('pgbackrest-repo-host', repoConf, ports.repo);
  for (const m of members) await startServer(`pgbackrest-${m.name}`, opts.member(m).configFile, ports.members[m.name]!);
  console.log(`pgbackrest TLS: ${1 + members.length} servers up in ${Math.round(performance.now() - t0)} ms`);
}, 180_000);

afterAll(async () => {
  for (const server of servers.splice(0)) await server.stop();
  if (pgStarted) asPostgres(bin('pg_ctl'), ['-D', member.dataDir, '-m', 'immediate', '-w', 'stop']);
  bed?.dispose();
});

/** Warnings other than the members without PostgreSQL, whose servers answer but whose database does not. */
function unexpected(out: string): string[] {
  return out.split('\n').filter((l) => /^(WARN|ERROR)/.test(l) && !/^WARN: unable to check pg[23]: \[DbConnectError\]/.test(l));
}

describe('pgbackrest over TLS with a repository host, on the rendered configs', () => {
  it('reads every rendered config without warnings (no unknown option)', () => {
    for (const config of [repoConf, ...bed.model.postgres.members.map((m) => opts.member(m).configFile)]) {
      const r = pgbackrest(config, '--log-level-console=warn', 'info');
      expect(r.out, config).not.toMatch(/WARN|ERROR/);
      expect(r.code, r.out).toBe(0);
    }
  });

  it('creates the stanza, archives through the repository host, backs up the primary over TLS and lists the backup', () => {
    const t0 = performance.now();
    const create = pgbackrest(repoConf, '--log-level-console=warn', 'stanza-create');
    expect(unexpected(create.out)).toEqual([]);
    expect(create.code, create.out).toBe(0);
    // check forces a WAL switch on the primary (through its server) and waits for the segment that
    // the rendered archive_command pushes to the repository host (through the repository host's server).
    const check = pgbackrest(repoConf, '--log-level-console=warn', 'check');
    expect(unexpected(check.out)).toEqual([]);
    expect(check.code, check.out).toBe(0);
    // The same from the member's side: its repo1 is the repository host.
    const memberCheck = pgbackrest(opts.member(member).configFile, '--log-level-console=warn', 'check');
    expect(memberCheck.out).not.toMatch(/WARN|ERROR/);
    expect(memberCheck.code, memberCheck.out).toBe(0);
    const t1 = performance.now();
    const backup = pgbackrest(repoConf, '--log-level-console=warn', 'backup', '--type=full');
    expect(unexpected(backup.out)).toEqual([]);
    expect(backup.code, backup.out).toBe(0);
    const t2 = performance.now();
    type Info = { status: { code: number }; backup: { type: string; error: boolean }[]; archive: { max: string | null }[] }[];
    for (const config of [repoConf, opts.member(member).configFile]) {
      const info = JSON.parse(pgbackrest(config, '--output=json', 'info').out) as Info;
      expect(info[0]!.status.code).toBe(0);
      expect(info[0]!.backup.map((b) => [b.type, b.error])).toEqual([['full', false]]);
      expect(info[0]!.archive[0]!.max).toMatch(/^[0-9A-F]{24}$/);
    }
    console.log(`pgbackrest TLS: stanza-create + 2 checks ${Math.round(t1 - t0)} ms, full backup ${Math.round(t2 - t1)} ms`);
  });

  it("refuses a client whose CN the server's tls-server-auth does not admit, or whose certificate another CA signed", () => {
    const memberConf = opts.member(member).configFile;
    const asClient = (config: string, prefix: 'repo1-host' | 'pg1-host', cert: { cert: string; key: string }) =>
      pgbackrest(config, `--${prefix}-cert-file=${cert.cert}`, `--${prefix}-key-file=${cert.key}`, '--log-level-console=warn', 'check');
    const pg1 = (out: string) => out.split('\n').find((l) => l.includes('pg1')) ?? out;
    // The repository host's server admits the members' CN only (the accepted case is the check above).
    const intruder = asClient(memberConf, 'repo1-host', certs.intruder);
    expect(intruder.code).not.toBe(0);
    expect(intruder.out).toMatch(/tls protocol on '127\.0\.0\.1': access denied/);
    const repoCnAtRepo = asClient(memberConf, 'repo1-host', certs.repoClient);
    expect(repoCnAtRepo.code).not.toBe(0);
    expect(repoCnAtRepo.out).toMatch(/access denied/);
    // A member's server admits the repository host's CN only, and only from the one CA.
    const memberCnAtPg = asClient(repoConf, 'pg1-host', certs.memberClient);
    expect(memberCnAtPg.code).not.toBe(0);
    expect(pg1(memberCnAtPg.out)).toMatch(/unable to check pg1: \[AccessError\] .* access denied/);
    const forged = asClient(repoConf, 'pg1-host', certs.forged);
    expect(forged.code).not.toBe(0);
    expect(pg1(forged.out)).toMatch(/unable to check pg1: \[ServiceError\] TLS error .*unknown ca/);
    console.log(`refused:\n  intruder CN at the repository host: ${intruder.out.trim()}\n  member CN at pg1: ${pg1(memberCnAtPg.out)}\n  other CA at pg1: ${pg1(forged.out)}`);
  });

  it('has the remote side read the config the client names (pgN-host-config, repo1-host-config), so those must be rendered', () => {
    const memberConf = opts.member(member).configFile;
    const pgSide = pgbackrest(repoConf, '--pg1-host-config=/nonexistent/pgbackrest.conf', '--log-level-console=warn', 'check');
    expect(pgSide.code).not.toBe(0);
    expect(pgSide.out).toMatch(/unable to check pg1: \[FileMissingError\] raised from remote-0 tls protocol .*'\/nonexistent\/pgbackrest\.conf'/);
    const repoSide = pgbackrest(memberConf, '--repo1-host-config=/nonexistent/pgbackrest.conf', '--log-level-console=warn', 'check');
    expect(repoSide.code).not.toBe(0);
    expect(repoSide.out).toMatch(/raised from remote-0 tls protocol .*'\/nonexistent\/pgbackrest\.conf'/);
  });
});

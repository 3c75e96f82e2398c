import type { Endpoint, PatroniMember, PlatformModel } from '../model.js';
import { PGBACKREST_DEFAULTS, pgbackrestStanza, type PgbackrestSettings } from './pgbackrest.js';

/**
 * pgBackRest with a dedicated repository host, over its TLS protocol (no SSH): where each Patroni
 * member is its own pod and sees only its own data dir. Every member runs `pgbackrest server` and
 * pushes WAL to the repository host (`repo1-host`); the repository host owns the repository, runs
 * `pgbackrest server` too (archive-push lands there) and runs the backups, reaching every member
 * through `pgN-host` (the backup finds the primary among them). Both directions use mutual TLS:
 * each side shows a server certificate for its host name and a client certificate whose CN the
 * other side's `tls-server-auth` admits for the stanza.
 */

/** One host's TLS material, as paths on that host. All certificates are signed by the one CA. */
export interface PgbackrestTlsCerts {
  /** Checks the other side: servers verify client certificates, clients verify server certificates. */
  caFile: string;
  /** Shown by this host's `pgbackrest server`: must name the host the others connect to (SAN). */
  serverCertFile: string;
  serverKeyFile: string;
  /** Shown when this host connects out; its CN is what the other side's tls-server-auth admits. */
  clientCertFile: string;
  clientKeyFile: string;
}

/** Where one host keeps pgBackRest's files; every path absolute, as that host sees it. */
export interface PgbackrestTlsHostLayout {
  configFile: string;
  logPath: string;
  lockPath: string;
  /** Members only need it for asynchronous archiving; kept so a later archive-async=y needs no layout change. */
  spoolPath: string;
  certs: PgbackrestTlsCerts;
}

export interface PgbackrestRepoHostLayout extends PgbackrestTlsHostLayout {
  /** repo1-path: backups and the WAL archive, on the repository host's volume. */
  repoPath: string;
}

export interface PgbackrestTlsOptions {
  repoHost: PgbackrestRepoHostLayout;
  /** A member's layout: the same paths in every pod on Kubernetes, distinct paths when members share a machine. */
  member: (member: PatroniMember) => PgbackrestTlsHostLayout;
  /** Client certificate CN of the repository host, admitted by every member's server. */
  repoClientCn?: string;
  /** Client certificate CN the members share (any of them may be primary and archive), admitted by the repository host's server. */
  memberClientCn?: string;
  /**
   * Where each `pgbackrest server` is reached; defaults to the model (repository host
   * `postgres.pgbackrest.repoHost`, each member at its host, all on `postgres.pgbackrest.tlsPort`).
   * Members sharing one machine need distinct ports here.
   */
  endpoints?: { repoHost: Endpoint; members: Record<string, Endpoint> };
  /** tls-server-address: the address the servers listen on; `*` (every interface of the pod) unless given. */
  listenAddress?: string;
  settings?: PgbackrestSettings;
}

export const PGBACKREST_REPO_CLIENT_CN = 'pgbackrest-repo';
export const PGBACKREST_MEMBER_CLIENT_CN = 'pgbackrest-postgres';

/** An option value must stay on its line: pgbackrest.conf has no quoting or escapes. */
function value(key: string, text: string): string {
  if (text === '' || /[\n\r]/.test(text)) throw new Error(`pgbackrest.conf ${key}: ${JSON.stringify(text)} must be a non-empty single line`);
  return text;
}

const line = (key: string, text: string | number) => `${key}=${value(key, String(text))}`;

/** A CN in `tls-server-auth=<cn>=<stanza>`: `=` or `,` would change what the option means. */
function clientCn(key: string, cn: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(cn)) throw new Error(`pgbackrest ${key}: ${JSON.stringify(cn)} must be letters, digits, '.', '_' or '-'`);
  return cn;
}

interface Resolved {
  stanza: string;
  repoEndpoint: Endpoint;
  memberEndpoint: (m: PatroniMember) => Endpoint;
  repoCn: string;
  memberCn: string;
  listen: string;
  settings: PgbackrestSettings;
}

/** The servers' endpoints and CNs, checked: two servers on one host:port would take each other's connections. */
function resolve(model: PlatformModel, opts: PgbackrestTlsOptions): Resolved {
  const members = model.postgres.members;
  if (members.length === 0) throw new Error('pgbackrest: the model has no Patroni member');
  const settings = opts.settings ?? PGBACKREST_DEFAULTS;
  if (!Number.isInteger(settings.retentionFull) || settings.retentionFull < 1) throw new Error(`pgbackrest retentionFull: must be a positive integer, got ${settings.retentionFull}`);
  const { repoHost, tlsPort } = model.postgres.pgbackrest;
  const repoEndpoint = opts.endpoints?.repoHost ?? { host: repoHost, port: tlsPort };
  const memberEndpoint = (m: PatroniMember): Endpoint => {
    if (!opts.endpoints) return { host: m.host, port: tlsPort };
    const e = opts.endpoints.members[m.name];
    if (!e) throw new Error(`pgbackrest: no TLS endpoint given for member ${m.name}`);
    return e;
  };
  const seen = new Map<string, string>();
  for (const [name, e] of [['the repository host', repoEndpoint] as const, ...members.map((m) => [m.name, memberEndpoint(m)] as const)]) {
    if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65_535) throw new Error(`pgbackrest: TLS port of ${name} must be 1..65535, got ${e.port}`);
    const key = `${e.host}:${e.port}`;
    const other = seen.get(key);
    if (other) throw new Error(`pgbackrest: ${other} and ${name} would both run their TLS server at ${key}; give distinct endpoints (opts.endpoints) when they share a host`);
    seen.set(key, name);
  }
  const repoCn = clientCn('repoClientCn', opts.repoClientCn ?? PGBACKREST_REPO_CLIENT_CN);
  const memberCn = clientCn('memberClientCn', opts.memberClientCn ?? PGBACKREST_MEMBER_CLIENT_CN);
  if (repoCn === memberCn) throw new Error(`pgbackrest: the repository host and the members need different client CNs, both are ${repoCn}`);
  return { stanza: pgbackrestStanza(model), repoEndpoint, memberEndpoint, repoCn, memberCn, listen: opts.listenAddress ?? '*', settings };
}

/** This host's own `pgbackrest server`, admitting `clientCn` for the stanza only. */
function tlsServer(r: Resolved, port: number, certs: PgbackrestTlsCerts, admit: string): string[] {
  return [
    line('tls-server-address', r.listen),
    line('tls-server-port', port),
    line('tls-server-cert-file', certs.serverCertFile),
    line('tls-server-key-file', certs.serverKeyFile),
    line('tls-server-ca-file', certs.caFile),
    line('tls-server-auth', `${admit}=${r.stanza}`),
  ];
}

function housekeeping(layout: PgbackrestTlsHostLayout, settings: PgbackrestSettings): string[] {
  return [
    line('log-path', layout.logPath),
    line('lock-path', layout.lockPath),
    line('spool-path', layout.spoolPath),
    `compress-type=${settings.compressType}`,
    `archive-timeout=${settings.archiveTimeoutSeconds}`,
    'log-level-console=info',
    'log-level-file=detail',
  ];
}

const conf = (model: PlatformModel, role: string, global: string[], stanza: string, section: string[]) =>
  [`# generated from the platform model (${model.target}), ${role}; do not edit`, '[global]', ...global, '', `[${stanza}]`, ...section, ''].join('\n');

function findMember(model: PlatformModel, member: PatroniMember): PatroniMember {
  const m = model.postgres.members.find((x) => x.name === member.name);
  if (!m) throw new Error(`pgbackrest: ${member.name} is not a member of ${model.postgres.scope}`);
  return m;
}

/**
 * pgbackrest.conf of the repository host: the repository and its retention, its own TLS server
 * (members archive-push to it), and one pgN per Patroni member reached over TLS (the backup asks
 * each which one is primary). pgN-path/-port/-socket-path are the member's own, as the member's
 * server uses them on its side.
 */
export function renderPgbackrestRepoHostConf(model: PlatformModel, opts: PgbackrestTlsOptions): string {
  const r = resolve(model, opts);
  const layout = opts.repoHost;
  const global = [
    line('repo1-path', layout.repoPath),
    `repo1-retention-full=${r.settings.retentionFull}`,
    ...housekeeping(layout, r.settings),
    // An immediate checkpoint: the backup starts now instead of after a spread checkpoint (minutes).
    'start-fast=y',
    ...tlsServer(r, r.repoEndpoint.port, layout.certs, r.memberCn),
  ];
  const section = model.postgres.members.flatMap((m, i) => {
    const pg = `pg${i + 1}`;
    const e = r.memberEndpoint(m);
    const memberLayout = opts.member(m);
    return [
      line(`${pg}-host`, e.host),
      `${pg}-host-type=tls`,
      line(`${pg}-host-port`, e.port),
      line(`${pg}-host-ca-file`, layout.certs.caFile),
      line(`${pg}-host-cert-file`, layout.certs.clientCertFile),
      line(`${pg}-host-key-file`, layout.certs.clientKeyFile),
      // The config the member's remote process reads (its own path, not this host's).
      line(`${pg}-host-config`, memberLayout.configFile),
      line(`${pg}-path`, m.dataDir),
      line(`${pg}-port`, m.pgPort),
      line(`${pg}-socket-path`, m.socketDir),
    ];
  });
  return conf(model, 'repository host', global, r.stanza, section);
}

/**
 * pgbackrest.conf of one member: its own data dir as pg1, the repository host as repo1 over TLS
 * (archive-push, and restores), and its own TLS server admitting the repository host's client CN
 * (backups read the data dir through it).
 */
export function renderPgbackrestMemberConf(model: PlatformModel, member: PatroniMember, opts: PgbackrestTlsOptions): string {
  const r = resolve(model, opts);
  const m = findMember(model, member);
  const layout = opts.member(m);
  const global = [
    line('repo1-host', r.repoEndpoint.host),
    'repo1-host-type=tls',
    line('repo1-host-port', r.repoEndpoint.port),
    line('repo1-host-ca-file', layout.certs.caFile),
    line('repo1-host-cert-file', layout.certs.clientCertFile),
    line('repo1-host-key-file', layout.certs.clientKeyFile),
    line('repo1-host-config', opts.repoHost.configFile),
    ...housekeeping(layout, r.settings),
    ...tlsServer(r, r.memberEndpoint(m).port, layout.certs, r.repoCn),
  ];
  const section = [line('pg1-path', m.dataDir), line('pg1-port', m.pgPort), line('pg1-socket-path', m.socketDir)];
  return conf(model, `member ${m.name}`, global, r.stanza, section);
}

/** A shell word: PostgreSQL runs archive_command through /bin/sh. */
const shellWord = (s: string) => (/^[A-Za-z0-9_./=:@%+,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** archive_command of one member: archive-push with the member's own config, whose repo1 is the repository host. */
export function pgbackrestTlsArchiveCommand(model: PlatformModel, member: PatroniMember, opts: Pick<PgbackrestTlsOptions, 'member'>): string {
  const m = findMember(model, member);
  return ['pgbackrest', `--config=${opts.member(m).configFile}`, `--stanza=${pgbackrestStanza(model)}`].map(shellWord).concat('archive-push', '%p').join(' ');
}

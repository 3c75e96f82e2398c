import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { renderMariaDbCnf, renderMariaDbInitSql, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import { run, startDaemon, waitFor, type DaemonProcess, type StartDaemonOptions } from '../process.js';

/** A local mariadbd (foreground child, so kill/start act on exactly our process) for the devstack and the integration tests. */
export interface MariaDbHandle {
  readonly host: string;
  readonly port: number;
  pid(): number;
  /** Sends `signal` (default SIGKILL); resolves when the process exited (SIGSTOP/SIGCONT: once sent). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts mariadbd again on the existing datadir; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Clean shutdown (SIGTERM; SIGKILL only after a minute). */
  stop(): Promise<void>;
  /** Runs SQL as root over the unix socket; returns the client's stdout (`--batch --skip-column-names`: tab-separated rows). Throws with stderr on error. */
  sql(statement: string): Promise<string>;
}

/** The rendered my.cnf sits beside the datadir. */
export const mariaDbCnfPath = (model: PlatformModel) => join(dirname(model.mariadb.datadir), 'my.cnf');

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Root authenticates through the unix_socket plugin (`mariadb-install-db --auth-root-authentication-method=socket`),
 * so no root password is ever written anywhere; this needs the caller to be OS root, which the devstack is
 * (mariadbd itself then drops to `runAsUser`).
 */
function rootClientArgs(cnf: string): string[] {
  return [`--defaults-file=${cnf}`, '--protocol=socket', '--user=root'];
}

/**
 * True once the server answers on TCP: it opens its listeners only when it is ready for queries. The
 * first packet is the handshake (protocol version 10) or, before the init SQL has created any user for
 * this host, error 1130 "Host ... is not allowed to connect" (0xff): both mean it is up. Cheaper than
 * spawning a client per poll; with skip-name-resolve there is no host cache, so the handshakes we
 * abandon cannot count towards max_connect_errors.
 */
export function mariaDbGreets(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ready: boolean) => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('data', (packet: Buffer) => done(packet.length > 4 && (packet[4] === 10 || packet[4] === 0xff)));
    socket.once('error', () => done(false));
  });
}

export const mariaDbErrorLog = (model: PlatformModel) => join(model.mariadb.logDir, 'error.log');
const mariaDbStdoutLog = (model: PlatformModel) => join(model.mariadb.logDir, 'mariadbd.out');

/** How mariadbd is run (it drops to `runAsUser` itself): the same spec for `startDaemon` and supervisord. */
export function mariadbdSpec(model: PlatformModel): StartDaemonOptions {
  return { name: model.mariadb.name, command: 'mariadbd', args: [`--defaults-file=${mariaDbCnfPath(model)}`], logFile: mariaDbStdoutLog(model) };
}

/** Writes my.cnf, creates and chowns the directories, and installs the system tables into an empty datadir (data is kept). */
export async function prepareMariaDb(model: PlatformModel): Promise<void> {
  const m = model.mariadb;
  const cnf = mariaDbCnfPath(model);
  const dirs = [...new Set([m.datadir, m.logDir, dirname(m.binlogBasename), dirname(m.socket), dirname(m.pidFile)])];
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  writeFileSync(cnf, renderMariaDbCnf(model), { mode: 0o644 });
  if (m.runAsUser && process.getuid?.() === 0) {
    const chown = await run('chown', ['-R', `${m.runAsUser}:${m.runAsUser}`, ...dirs]);
    if (chown.code !== 0) throw new Error(`chown of the MariaDB directories to ${m.runAsUser} failed: ${chown.stderr}`);
  }

  if (!existsSync(join(m.datadir, 'mysql'))) {
    const install = await run('mariadb-install-db', [`--defaults-file=${cnf}`, '--auth-root-authentication-method=socket', '--skip-test-db'], { timeoutMs: 180_000 });
    if (install.code !== 0) throw new Error(`mariadb-install-db failed (exit ${install.code}):\n${install.stdout}\n${install.stderr}\n${tail(mariaDbErrorLog(model))}`);
  }
}

/** Runs SQL as root over the unix socket; returns the client's stdout (tab-separated rows). Throws with stderr on error. */
export async function mariaDbRootSql(model: PlatformModel, statement: string): Promise<string> {
  const result = await run('mariadb', [...rootClientArgs(mariaDbCnfPath(model)), '--batch', '--skip-column-names'], { input: statement, timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`mariadb: ${result.stderr.trim() || `exit ${result.code}`}`);
  return result.stdout;
}

/** Creates the users, grants and database (idempotent). */
export async function initializeMariaDb(model: PlatformModel, secrets: PlatformSecrets): Promise<void> {
  await mariaDbRootSql(model, renderMariaDbInitSql(model, secrets));
}

export async function startMariaDb(model: PlatformModel, secrets: PlatformSecrets): Promise<MariaDbHandle> {
  if (model.target !== 'local') throw new Error(`startMariaDb runs the devstack only; the model's target is ${model.target}`);
  const m = model.mariadb;
  const errorLog = mariaDbErrorLog(model);
  const stdoutLog = mariaDbStdoutLog(model);
  await prepareMariaDb(model);

  let daemon: DaemonProcess | undefined;

  const sql = (statement: string) => mariaDbRootSql(model, statement);

  async function start(): Promise<void> {
    if (daemon?.alive()) return;
    const started = startDaemon(mariadbdSpec(model));
    daemon = started;
    await waitFor(
      `mariadbd to accept connections on ${m.host}:${m.port}`,
      async () => {
        if (!started.alive()) return true; // reported below, without waiting out the timeout
        return mariaDbGreets(m.host, m.port);
      },
      { timeoutMs: 120_000, intervalMs: 100, logFile: errorLog },
    ).catch((e: unknown) => {
      started.kill('SIGKILL');
      throw e;
    });
    if (!started.alive()) throw new Error(`mariadbd exited (${await started.exited}):\n${tail(stdoutLog)}\n${tail(errorLog)}`);
  }

  async function kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!daemon?.alive()) return;
    daemon.kill(signal);
    // A stopped (hung) server has not exited; SIGCONT resumes it.
    if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await daemon.exited;
  }

  async function stop(): Promise<void> {
    await daemon?.stop('SIGTERM', 60_000);
  }

  try {
    await start();
    await initializeMariaDb(model, secrets);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    host: m.host,
    port: m.port,
    pid: () => {
      if (!daemon) throw new Error('mariadbd was never started');
      return daemon.pid;
    },
    kill,
    start,
    stop,
    sql,
  };
}

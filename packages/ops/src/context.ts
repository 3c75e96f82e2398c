import { join, resolve } from 'node:path';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { buildPlatform, parsePlatformConfig, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import { defaultWorkdir, openStack } from '@numbering/devstack';

/**
 * Where the ops commands act, and with which credentials. Two sources:
 * - the devstack (default): the model and secrets of `pnpm devstack` in DEVSTACK_DIR or `--devstack DIR`;
 * - the environment (`OPS_SOURCE=environment`), as in the prod CronJobs: the stack config as JSON in
 *   OPS_PLATFORM_CONFIG (so hostnames come from the same model the Pulumi program used) and each
 *   secret a command needs in its own variable, e.g. OPS_SECRET_MARIADB_BACKUP.
 */

export type SecretPath = {
  [K in keyof PlatformSecrets]: PlatformSecrets[K] extends Record<string, unknown> ? `${K & string}.${keyof PlatformSecrets[K] & string}` : never;
}[keyof PlatformSecrets];

export interface OpsIo {
  out(line: string): void;
  err(line: string): void;
  /** Asks a yes/no question; false unless the user answers yes. Never called with `--yes`. */
  confirm(question: string): Promise<boolean>;
  /** A step of a long operation (`dr`, restores): shown as it happens. */
  progress(step: string, detail?: string): void;
}

export interface OpsContext {
  source: 'devstack' | 'environment';
  /** `devstack /work/main/.devstack` or `environment (kubernetes)`, for messages. */
  description: string;
  model: PlatformModel;
  /** The named credential; throws an OpsError naming the variable or file when it is missing. */
  secret(path: SecretPath): string;
  /** The devstack directory (devstack source only): local files such as Redis RDB/AOF and pgBackRest's repository live under it. */
  workdir?: string;
  /** Where backups are written and looked for. */
  backupDir: string;
  /** Skip confirmations (`--yes`). */
  assumeYes: boolean;
  io: OpsIo;
  now(): Date;
}

/** A failure the user can act on: printed as `ops: <message>` without a stack trace, exit 1. */
export class OpsError extends Error {
  override name = 'OpsError';
}

export const secretEnvName = (path: SecretPath) => `OPS_SECRET_${path.replace('.', '_').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;

export interface ContextOptions {
  /** Devstack directory (devstack source). */
  devstack?: string;
  backupDir?: string;
  assumeYes?: boolean;
  io: OpsIo;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

const EnvironmentSchema = Type.Object({
  OPS_PLATFORM_CONFIG: Type.String({ minLength: 2, description: 'the stack config as JSON (flat dotted keys, as `pulumi config --json` without the project prefix, or nested)' }),
  OPS_BACKUP_DIR: Type.String({ minLength: 1, description: 'directory backups are written to and read from' }),
});

function environmentContext(opts: ContextOptions, env: NodeJS.ProcessEnv): OpsContext {
  const raw = { OPS_PLATFORM_CONFIG: env.OPS_PLATFORM_CONFIG ?? '', OPS_BACKUP_DIR: opts.backupDir ?? env.OPS_BACKUP_DIR ?? '' };
  const problems = [...Value.Errors(EnvironmentSchema, raw)].map((e) => `${e.instancePath.slice(1)}: ${e.message}`);
  if (problems.length) throw new OpsError(`OPS_SOURCE=environment needs ${problems.join('; ')}`);
  let stackConfig: Record<string, unknown>;
  try {
    stackConfig = JSON.parse(raw.OPS_PLATFORM_CONFIG) as Record<string, unknown>;
  } catch (e) {
    throw new OpsError(`OPS_PLATFORM_CONFIG is not JSON: ${(e as Error).message}`);
  }
  const config = parsePlatformConfig({ target: 'kubernetes', ...stackConfig });
  return {
    source: 'environment',
    description: `environment (${config.target})`,
    model: buildPlatform(config),
    secret(path) {
      const name = secretEnvName(path);
      const value = env[name];
      if (!value) throw new OpsError(`${name} is not set (the ${path} credential this command needs)`);
      return value;
    },
    backupDir: resolve(raw.OPS_BACKUP_DIR),
    assumeYes: opts.assumeYes ?? false,
    io: opts.io,
    now: opts.now ?? (() => new Date()),
  };
}

function devstackContext(opts: ContextOptions): OpsContext {
  const workdir = resolve(opts.devstack ?? defaultWorkdir());
  const stack = openStack({ workdir });
  return {
    source: 'devstack',
    description: `devstack ${workdir}`,
    model: stack.model,
    secret(path) {
      const [group, name] = path.split('.') as [keyof PlatformSecrets, string];
      const value = (stack.secrets[group] as Record<string, string | undefined>)[name];
      if (!value) throw new OpsError(`the devstack in ${workdir} has no ${path} secret (run \`pnpm devstack up\` first)`);
      return value;
    },
    workdir,
    backupDir: resolve(opts.backupDir ?? join(workdir, 'backups')),
    assumeYes: opts.assumeYes ?? false,
    io: opts.io,
    now: opts.now ?? (() => new Date()),
  };
}

/** A context from a model and secrets already in hand (tests on the daemon harness, `devstack` callers). */
export function contextFrom(args: { model: PlatformModel; secrets: PlatformSecrets; workdir?: string; backupDir: string; io: OpsIo; assumeYes?: boolean; now?: () => Date }): OpsContext {
  return {
    source: 'devstack',
    description: `devstack ${args.workdir ?? '(harness)'}`,
    model: args.model,
    secret(path) {
      const [group, name] = path.split('.') as [keyof PlatformSecrets, string];
      const value = (args.secrets[group] as Record<string, string | undefined>)[name];
      if (!value) throw new OpsError(`no ${path} secret`);
      return value;
    },
    ...(args.workdir ? { workdir: args.workdir } : {}),
    backupDir: args.backupDir,
    assumeYes: args.assumeYes ?? false,
    io: args.io,
    now: args.now ?? (() => new Date()),
  };
}

export function createContext(opts: ContextOptions): OpsContext {
  const env = opts.env ?? process.env;
  const source = env.OPS_SOURCE ?? 'devstack';
  if (source === 'environment' && !opts.devstack) return environmentContext(opts, env);
  if (source !== 'devstack' && source !== 'environment') throw new OpsError(`OPS_SOURCE must be devstack or environment, got ${JSON.stringify(source)}`);
  return devstackContext(opts);
}

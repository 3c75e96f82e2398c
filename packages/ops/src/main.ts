import { ConfigError } from '@numbering/blueprint';
import { parseCommandArgs, UsageError, type Command, type ParsedArgs } from './command.js';
import { commands } from './commands/index.js';
import { createContext, OpsError, type OpsContext, type OpsIo } from './context.js';

/**
 * The `ops` command line as a function: argv in, exit code out. cli.ts alone touches process.exit;
 * tests call `main` with their own io (and a context built on their own daemons).
 */

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const GLOBAL_HELP = `global options (before or after the command):
  --devstack DIR      act on this devstack (default DEVSTACK_DIR or <repo>/.devstack)
  --backup-dir DIR    where backups are written and read (default <devstack>/backups, or OPS_BACKUP_DIR)
  -y, --yes           do not ask for confirmation
  -h, --help          this help
environment source (prod CronJobs): OPS_SOURCE=environment, OPS_PLATFORM_CONFIG (stack config JSON),
  OPS_BACKUP_DIR, and one OPS_SECRET_<GROUP>_<NAME> per credential (e.g. OPS_SECRET_MARIADB_BACKUP)
exit codes: 0 ok, 1 a problem was found or an operation failed, 2 usage`;

export function usage(list: readonly Command[] = commands): string {
  const width = Math.max(...list.map((c) => `${c.name}${c.args ? ` ${c.args}` : ''}`.length));
  const lines = list.map((c) => `  ${`${c.name}${c.args ? ` ${c.args}` : ''}`.padEnd(width)}  ${c.summary}`);
  return `usage: pnpm ops <command> [options]\n${lines.join('\n')}\n${GLOBAL_HELP}`;
}

export function commandUsage(c: Command): string {
  return `usage: pnpm ops ${c.name}${c.args ? ` ${c.args}` : ''} [options]\n  ${c.summary}${c.help ? `\n${c.help}` : ''}\n${GLOBAL_HELP}`;
}

/** The command whose words start argv, the longest match first (`pg status` before `pg`). */
export function findCommand(argv: readonly string[], list: readonly Command[] = commands): { command: Command; rest: string[] } | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  const sorted = [...list].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const command of sorted) {
    const name = command.name.split(' ');
    if (name.every((w, i) => words[i] === w)) {
      // Remove the command words (first occurrences, in order) and keep everything else in place.
      const rest = [...argv];
      for (const w of name) rest.splice(rest.indexOf(w), 1);
      return { command, rest };
    }
  }
  return undefined;
}

export interface MainDeps {
  /** Builds the context; tests inject one bound to their own daemons. */
  context?: (opts: { devstack?: string; backupDir?: string; assumeYes: boolean; io: OpsIo }) => OpsContext;
  commands?: readonly Command[];
}

export async function main(argv: readonly string[], io: OpsIo, deps: MainDeps = {}): Promise<number> {
  const list = deps.commands ?? commands;
  const found = findCommand(argv, list);
  if (!found) {
    const help = argv.length === 0 || argv.includes('-h') || argv.includes('--help') || argv[0] === 'help';
    (help ? io.out : io.err)(help ? usage(list) : `ops: unknown command ${JSON.stringify(argv.filter((a) => !a.startsWith('-')).join(' '))}\n${usage(list)}`);
    return help ? EXIT_OK : EXIT_USAGE;
  }
  const { command, rest } = found;
  let parsed: ParsedArgs;
  try {
    parsed = parseCommandArgs(command, rest);
  } catch (e) {
    io.err(`ops ${command.name}: ${(e as Error).message}\n${commandUsage(command)}`);
    return EXIT_USAGE;
  }
  if (parsed.values.help) {
    io.out(commandUsage(command));
    return EXIT_OK;
  }
  try {
    const { devstack, 'backup-dir': backupDir, yes } = parsed.values as { devstack?: string; 'backup-dir'?: string; yes: boolean };
    const opts = { ...(devstack ? { devstack } : {}), ...(backupDir ? { backupDir } : {}), assumeYes: yes, io };
    const ctx = deps.context ? deps.context(opts) : createContext(opts);
    return await command.run(ctx, parsed);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`ops ${command.name}: ${e.message}\n${commandUsage(command)}`);
      return EXIT_USAGE;
    }
    if (e instanceof OpsError || e instanceof ConfigError) {
      io.err(`ops ${command.name}: ${e.message}`);
      return EXIT_FAILED;
    }
    throw e;
  }
}

import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { OpsContext } from './context.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** One `pnpm ops <words...>` command. `run` returns the exit code: 0 ok, 1 failed (a problem was found or an operation failed). */
export interface Command {
  /** Words after `ops`: `backup mariadb`, `integrity`, `pg switchover`. */
  name: string;
  summary: string;
  /** Positional arguments, e.g. `FILE`; shown in help. */
  args?: string;
  /** Option lines for help, e.g. `  --keep-days N   retention (default 14)`. */
  help?: string;
  options?: OptionSpec;
  run(ctx: OpsContext, args: ParsedArgs): Promise<number>;
}

/** Bad command-line input: printed with the command's usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `14d`, `2y`, `36h`, `90m` → milliseconds; months are 30 days and years 365 days. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+)\s*(m|h|d|w|y)$/.exec(text.trim());
  if (!m) throw new UsageError(`${option} must be a number and a unit (m, h, d, w, y), e.g. 14d or 2y; got ${JSON.stringify(text)}`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 }[m[2] as 'm' | 'h' | 'd' | 'w' | 'y'];
  return Number(m[1]) * unit;
}

export function parsePositiveInt(text: string | undefined, option: string, fallback?: number): number {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`${option} is required`);
    return fallback;
  }
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`${option} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The options every command accepts (`main` strips nothing: they are parsed with the command's own). */
export const GLOBAL_OPTIONS: OptionSpec = {
  devstack: { type: 'string' },
  'backup-dir': { type: 'string' },
  yes: { type: 'boolean', short: 'y', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

/** Parses `argv` with the command's options; unknown options and bad values are UsageErrors. */
export function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs {
  try {
    const parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: { ...GLOBAL_OPTIONS, ...command.options } });
    return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

import { describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, exampleSecrets } from '@numbering/blueprint';
import { contextFrom, type OpsIo } from '../src/context.js';
import { main } from '../src/main.js';
import { parseReason, parseYear } from '../src/commands/sequences.js';

/**
 * Argument handling of the sequence commands: every mistake is exit 2 with a message naming the
 * option, before any connection is made (the context here points at a MariaDB that is not running).
 */

const model = buildPlatform(defaultPlatformConfig('local'), { workdir: '/tmp/ops-sequences-unit' });

async function ops(...argv: string[]) {
  const lines: string[] = [];
  const io: OpsIo = { out: (l) => lines.push(l), err: (l) => lines.push(l), confirm: async () => false, progress: () => undefined };
  const code = await main(argv, io, { context: (o) => contextFrom({ model, secrets: exampleSecrets(), backupDir: '/nonexistent', io: o.io, assumeYes: o.assumeYes }) });
  return { code, text: lines.join('\n') };
}

describe('sequence commands: argument errors (exit 2, nothing touched)', () => {
  it.each([
    [['adjust-max', '--max', '10', '--reason', 'raise it'], 'give exactly one of --template NAME or --counter KEY'],
    [['adjust-max', '--template', 'RFA', '--counter', 'RFA|2026', '--max', '10', '--reason', 'raise it'], 'give exactly one of --template NAME or --counter KEY'],
    [['adjust-max', '--template', 'RFA', '--reason', 'raise it'], '--max is required'],
    [['adjust-max', '--template', 'RFA', '--max', '0', '--reason', 'raise it'], '--max must be a positive integer, got "0"'],
    [['adjust-max', '--template', 'RFA', '--max', '1e4', '--reason', 'raise it'], '--max must be a positive integer, got "1e4"'],
    [['adjust-max', '--template', 'RFA', '--max', '100'], '--reason is required'],
    [['adjust-max', '--template', 'RFA', '--max', '100', '--reason', 'x'], '--reason must be 3 to 500 characters'],
    [['sequences', '--window', '0d'], '--window must be longer than 0'],
    [['sequences', '--window', 'a week'], '--window must be a number and a unit'],
    [['sequences', 'RFA'], 'unexpected argument "RFA"'],
    [['sequences', '--windows', '7d'], "Unknown option '--windows'"],
    [['yearly-reset', '--year', '26'], '--year must be a four-digit year such as 2027, got "26"'],
    [['yearly-reset', '--dry-run=yes'], "Option '--dry-run' does not take an argument"],
    [['archive-audit'], '--older-than is required, e.g. --older-than 2y'],
    [['archive-audit', '--older-than', '2 years'], '--older-than must be a number and a unit'],
    [['archive-audit', '--older-than', '2y', '--batch', '0'], '--batch must be a positive integer'],
    [['archive-audit', '--older-than', '2y', '--batch', '100000'], '--batch must be at most 50000'],
    [['cleanup-reservations', '--all'], "Unknown option '--all'"],
  ])('ops %j', async (argv, message) => {
    const r = await ops(...argv);
    expect(r.code, r.text).toBe(2);
    expect(r.text).toContain(message);
    expect(r.text).toContain(`usage: pnpm ops ${argv[0]}`);
  });

  it('lists the commands in help, each with its own help text', async () => {
    const help = await ops('help');
    expect(help.code).toBe(0);
    for (const name of ['sequences', 'adjust-max', 'yearly-reset', 'archive-audit', 'cleanup-reservations']) expect(help.text).toContain(`  ${name} `);
    const yearly = await ops('yearly-reset', '--help');
    expect(yearly.code).toBe(0);
    expect(yearly.text).toContain('first allocation of a new year creates that year');
  });

  it('parses reasons and years', () => {
    expect(parseReason('  INC-1 range  ')).toBe('INC-1 range');
    expect(parseYear(undefined)).toBeUndefined();
    expect(parseYear('2027')).toBe(2027);
    expect(() => parseYear('1969')).toThrow('--year must be a four-digit year');
  });
});

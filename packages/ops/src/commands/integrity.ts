import type mysql from 'mysql2/promise';
import type { Command } from '../command.js';
import { OpsError, type OpsContext } from '../context.js';
import { IntegrityAnalyzer, formatReport, type ClosedEpoch, type CounterRow, type IntegrityReport, type NumberHolder } from '../integrity.js';
import { streamTextRows } from '../mariadb-stream.js';
import { connectMariaDb } from '../mariadb.js';

/** Reset audit entries name the epoch they closed and its last value (details JSON of COUNTER_RESET). */
function closedEpochOf(counterKey: string, details: string | null): ClosedEpoch | undefined {
  try {
    const d = JSON.parse(details ?? '') as { fromEpoch?: unknown; fromValue?: unknown };
    return Number.isInteger(d.fromEpoch) && Number.isInteger(d.fromValue) ? { counterKey, epoch: d.fromEpoch as number, finalValue: d.fromValue as number } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads counters, reset history, duplicate number texts and the whole ledger (streamed, in index order)
 * in one consistent snapshot as the read-only `backup` account, and analyses them. Without the snapshot
 * an allocation committing between the counters query and the ledger scan would look like a problem.
 */
export async function checkIntegrity(ctx: OpsContext, opts: { counterKey?: string } = {}): Promise<IntegrityReport> {
  const conn = await connectMariaDb(ctx, 'backup');
  const only = opts.counterKey;
  const where = only === undefined ? '' : ' WHERE counter_key = ?';
  const args = only === undefined ? [] : [only];
  try {
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const [counterRows] = await conn.query<mysql.RowDataPacket[]>(`SELECT counter_key, epoch, current_value, max_value FROM counters${where}`, args);
    const counters: CounterRow[] = counterRows.map((r) => ({ counterKey: String(r.counter_key), epoch: Number(r.epoch), current: Number(r.current_value), max: Number(r.max_value) }));
    const [resets] = await conn.query<mysql.RowDataPacket[]>(`SELECT counter_key, details FROM audit_log WHERE action = 'COUNTER_RESET'${only === undefined ? '' : ' AND counter_key = ?'}`, args);
    const closed = resets.flatMap((r) => closedEpochOf(String(r.counter_key), r.details === null ? null : String(r.details)) ?? []);
    const [holders] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT n.number, n.counter_key, n.epoch, n.sequence FROM numbers n
       JOIN (SELECT number FROM numbers WHERE number IS NOT NULL${only === undefined ? '' : ' AND number IN (SELECT number FROM numbers WHERE counter_key = ?)'}
             GROUP BY number HAVING COUNT(*) > 1 LIMIT 1000) d ON d.number = n.number
       ORDER BY n.number, n.counter_key, n.epoch, n.sequence`,
      args,
    );

    const analyzer = new IntegrityAnalyzer(counters, closed);
    let any = false;
    for await (const [key, epoch, sequence] of streamTextRows(conn, `SELECT counter_key, epoch, sequence FROM numbers${where} ORDER BY counter_key, epoch, sequence`, args)) {
      any = true;
      analyzer.add({ counterKey: key!, epoch: Number(epoch), sequence: Number(sequence) });
    }
    if (only !== undefined && counters.length === 0 && !any) throw new OpsError(`no counter ${JSON.stringify(only)} and no ledger rows for it (\`ops integrity\` without --counter lists every counter)`);
    analyzer.addDuplicateNumbers(holders.map((r): NumberHolder => ({ number: String(r.number), counterKey: String(r.counter_key), epoch: Number(r.epoch), sequence: Number(r.sequence) })));
    return analyzer.finish();
  } finally {
    await conn.query('ROLLBACK').catch(() => undefined);
    await conn.end().catch(() => undefined);
  }
}

const integrity: Command = {
  name: 'integrity',
  summary: 'check every counter: current vs max, each ledger sequence 1..current exactly once, no duplicate numbers (exit 1 on a problem)',
  help: '  --counter KEY      check only this counter (its key as in `ops sequences`, e.g. "TRANSMITTAL|-|PROJECT=LCBP3|ORIGINATOR=ABC")',
  options: { counter: { type: 'string' } },
  async run(ctx, args) {
    const counterKey = args.values.counter as string | undefined;
    ctx.io.progress('integrity', `reading ${counterKey ? `counter ${counterKey}` : 'every counter'} and the ledger in one snapshot`);
    const report = await checkIntegrity(ctx, counterKey === undefined ? {} : { counterKey });
    for (const line of formatReport(report)) ctx.io.out(line);
    return report.problems.length === 0 ? 0 : 1;
  },
};

export const integrityCommands: Command[] = [integrity];

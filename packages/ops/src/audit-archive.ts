import { OpsError } from './context.js';
import { missingTable, sqlDateTime, transaction, type Connection, type Result, type Rows } from './sequence-db.js';

/**
 * `ops archive-audit`: moves audit_log rows older than a cutoff into audit_log_archive (migration
 * 003, same columns, same ids). Each batch is one transaction: lock the batch's rows, copy them,
 * check that the archive now holds every one of them with identical contents, then delete exactly
 * those ids. A batch that cannot be verified is rolled back whole, so a row is never deleted
 * unarchived. Rows that are already in the archive with identical contents (audit_log restored from
 * a backup taken before an earlier archive run) are not copied twice, only removed from audit_log.
 */

export const AUDIT_COLUMNS = ['id', 'created_at', 'actor', 'action', 'template_id', 'counter_key', 'number', 'sequence', 'reason', 'details'] as const;
const COLS = AUDIT_COLUMNS.join(', ');
const SAME_ROW = AUDIT_COLUMNS.map((c) => `x.${c} <=> a.${c}`).join(' AND ');

export interface ArchiveOptions {
  /** Rows created strictly before this instant (UTC) are archived. */
  cutoff: Date;
  batchSize: number;
  dryRun: boolean;
  onBatch?: (batch: { number: number; moved: number; copied: number; lastId: string }) => void;
}

export interface ArchiveResult {
  /** Rows older than the cutoff found in audit_log at the start. */
  due: number;
  oldest?: string;
  newest?: string;
  /** Rows removed from audit_log (each verified in the archive first). */
  moved: number;
  /** Of those, rows copied now (the rest were in the archive already, identical). */
  copied: number;
  batches: number;
  /** Row counts after the run. */
  auditRows: number;
  archiveRows: number;
}

async function counts(conn: Connection): Promise<{ auditRows: number; archiveRows: number }> {
  const [[r]] = await conn.query<Rows>('SELECT (SELECT COUNT(*) FROM audit_log) AS audit_rows, (SELECT COUNT(*) FROM audit_log_archive) AS archive_rows');
  return { auditRows: Number(r?.audit_rows ?? 0), archiveRows: Number(r?.archive_rows ?? 0) };
}

export async function archiveAudit(conn: Connection, opts: ArchiveOptions): Promise<ArchiveResult> {
  const cutoff = sqlDateTime(opts.cutoff);
  let before;
  try {
    before = await counts(conn);
  } catch (e) {
    throw missingTable(e, 'audit_log_archive', '003_audit_archive') ?? e;
  }
  const [[due]] = await conn.query<Rows>('SELECT COUNT(*) AS n, MIN(created_at) AS oldest, MAX(created_at) AS newest FROM audit_log WHERE created_at < ?', [cutoff]);
  const result: ArchiveResult = {
    due: Number(due?.n ?? 0),
    ...(due?.oldest ? { oldest: String(due.oldest), newest: String(due.newest) } : {}),
    moved: 0,
    copied: 0,
    batches: 0,
    ...before,
  };
  if (opts.dryRun || result.due === 0) return result;

  for (;;) {
    const batch = await transaction(conn, async () => {
      const [rows] = await conn.query<Rows>('SELECT id FROM audit_log WHERE created_at < ? ORDER BY id LIMIT ? FOR UPDATE', [cutoff, opts.batchSize]);
      const ids = rows.map((r) => String(r.id));
      if (ids.length === 0) return undefined;
      const [copied] = await conn.query<Result>(
        `INSERT INTO audit_log_archive (${COLS}) SELECT ${COLS} FROM audit_log a WHERE a.id IN (?) AND NOT EXISTS (SELECT 1 FROM audit_log_archive x WHERE x.id = a.id)`,
        [ids],
      );
      const [[same]] = await conn.query<Rows>(`SELECT COUNT(*) AS n FROM audit_log a JOIN audit_log_archive x ON x.id = a.id AND ${SAME_ROW} WHERE a.id IN (?)`, [ids]);
      if (Number(same?.n) !== ids.length) {
        const [differs] = await conn.query<Rows>(`SELECT a.id FROM audit_log a JOIN audit_log_archive x ON x.id = a.id WHERE a.id IN (?) AND NOT (${SAME_ROW}) ORDER BY a.id LIMIT 10`, [ids]);
        throw new OpsError(
          `audit_log rows ${differs.map((r) => String(r.id)).join(', ')} are already in audit_log_archive with different contents; this batch was rolled back and nothing in it was deleted. Compare the two rows and resolve by hand`,
        );
      }
      // Exactly the ids just verified in the archive; they are locked, so no other session changed them.
      const [deleted] = await conn.query<Result>('DELETE FROM audit_log WHERE id IN (?)', [ids]);
      if (deleted.affectedRows !== ids.length) throw new OpsError(`expected to remove ${ids.length} archived rows from audit_log, removed ${deleted.affectedRows}; the batch was rolled back`);
      return { moved: ids.length, copied: copied.affectedRows, lastId: ids.at(-1)! };
    });
    if (!batch) break;
    result.batches++;
    result.moved += batch.moved;
    result.copied += batch.copied;
    opts.onBatch?.({ number: result.batches, ...batch });
    if (batch.moved < opts.batchSize) break;
  }
  Object.assign(result, await counts(conn));
  return result;
}

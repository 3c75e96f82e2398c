import type { Connection } from './pool.js';

export interface AuditRow {
  actor: string;
  action: string;
  templateId?: number | null;
  counterKey?: string | null;
  number?: string | null;
  sequence?: number | null;
  reason?: string | null;
  details?: Record<string, unknown> | null;
}

/** One multi-row INSERT, inside the caller's transaction: a change and its audit row commit together. */
export async function insertAudit(conn: Connection, rows: readonly AuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  const values = rows.map((r) => [
    r.actor,
    r.action,
    r.templateId ?? null,
    r.counterKey ?? null,
    r.number ?? null,
    r.sequence ?? null,
    r.reason ?? null,
    r.details ? JSON.stringify(r.details) : null,
  ]);
  await conn.query('INSERT INTO audit_log (actor, action, template_id, counter_key, number, sequence, reason, details) VALUES ?', [values]);
}

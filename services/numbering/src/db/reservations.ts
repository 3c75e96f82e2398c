import { conflict, gone, notFound } from '../domain/errors.js';
import { insertAudit } from './audit.js';
import { inTransaction, type Pool, type Rows } from './pool.js';

/**
 * Reservation life cycle after allocation: RESERVED -> CONFIRMED, RESERVED -> CANCELLED,
 * RESERVED -> EXPIRED (by the sweeper, or on the first touch after expires_at). All transitions are
 * UPDATEs with an audit row in the same transaction; nothing is ever deleted.
 */

export interface ReservationView {
  token: string;
  number: string;
  sequence: number;
  counterKey: string;
  state: string;
  expiresAt: Date | null;
}

type Transition = 'confirm' | 'cancel';

export async function transitionReservation(pool: Pool, token: string, to: Transition, actor: string, reason?: string): Promise<ReservationView> {
  let expired = false;
  const view = await inTransaction(pool, async (conn) => {
    const [rows] = await conn.query<Rows>(
      'SELECT state, number, sequence, counter_key, template_id, expires_at, expires_at <= NOW(3) AS is_expired FROM numbers WHERE reservation_token = ? FOR UPDATE',
      [token],
    );
    const r = rows[0];
    if (!r) throw notFound(`no reservation with token ${token}`);
    const base = { token, number: String(r.number), sequence: Number(r.sequence), counterKey: String(r.counter_key), expiresAt: (r.expires_at as Date | null) ?? null };
    const audit = (action: string) => insertAudit(conn, [{ actor, action, templateId: Number(r.template_id), counterKey: base.counterKey, number: base.number, sequence: base.sequence, reason: reason ?? null }]);
    const state = String(r.state);
    const target = to === 'confirm' ? 'CONFIRMED' : 'CANCELLED';
    if (state === 'RESERVED' && Number(r.is_expired) === 1) {
      // Expired but not swept yet: record the expiry now, then refuse.
      await conn.query("UPDATE numbers SET state = 'EXPIRED' WHERE reservation_token = ? AND state = 'RESERVED'", [token]);
      await audit('EXPIRE');
      expired = true;
      return { ...base, state: 'EXPIRED' };
    }
    if (state === 'RESERVED') {
      await conn.query('UPDATE numbers SET state = ?, note = COALESCE(?, note) WHERE reservation_token = ?', [target, reason ?? null, token]);
      await audit(to === 'confirm' ? 'CONFIRM' : 'CANCEL');
      return { ...base, state: target };
    }
    if (state === target) return { ...base, state }; // repeated call: same answer
    if (state === 'EXPIRED') {
      expired = true;
      return { ...base, state };
    }
    throw conflict('INVALID_STATE', `reservation ${token} (number ${base.number}) is ${state} and cannot be ${to === 'confirm' ? 'confirmed' : 'cancelled'}`);
  });
  if (expired) throw gone(`reservation ${token} (number ${view.number}) expired at ${view.expiresAt?.toISOString()}; reserve a new number`);
  return view;
}

/** Marks reservations past their expiry EXPIRED. SKIP LOCKED: instances sweeping together split the work. */
export async function expireReservations(pool: Pool, actor: string, limit = 500): Promise<number> {
  return inTransaction(pool, async (conn) => {
    const [rows] = await conn.query<Rows>(
      "SELECT id, number, sequence, counter_key, template_id FROM numbers WHERE state = 'RESERVED' AND expires_at <= NOW(3) ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED",
      [limit],
    );
    if (rows.length === 0) return 0;
    await conn.query("UPDATE numbers SET state = 'EXPIRED' WHERE id IN (?) AND state = 'RESERVED'", [rows.map((r) => r.id)]);
    await insertAudit(
      conn,
      rows.map((r) => ({ actor, action: 'EXPIRE', templateId: Number(r.template_id), counterKey: String(r.counter_key), number: String(r.number), sequence: Number(r.sequence), reason: 'reservation expired' })),
    );
    return rows.length;
  });
}


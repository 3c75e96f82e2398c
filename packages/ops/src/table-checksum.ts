import { createHash } from 'node:crypto';

/**
 * A checksum of a table's rows that does not depend on their order: the sum (mod 2^256) of the
 * SHA-256 of every row, folded with the row count. A dump lists rows in whatever order the server
 * scanned them, a live table is read back in its own order; both give the same checksum as long as
 * they hold the same rows. A sum (unlike XOR) does not cancel out a row that appears twice.
 *
 * A row is its column values as the server's text protocol prints them (what mariadb-dump writes and
 * what mysql2's `field.string()` returns), NULL as null.
 */
export type RowValues = readonly (string | null)[];

const MOD = 1n << 256n;

export class TableChecksum {
  rows = 0;
  private sum = 0n;

  add(values: RowValues): void {
    this.rows += 1;
    const digest = createHash('sha256').update(JSON.stringify(values)).digest('hex');
    // Reduced once in digest(): the sum only grows by log2(rows) bits beyond 256.
    this.sum += BigInt(`0x${digest}`);
  }

  /** 64 hex digits. */
  digest(): string {
    return createHash('sha256').update(`${this.rows}:${(this.sum % MOD).toString(16).padStart(64, '0')}`).digest('hex');
  }
}

export function checksumOf(rows: Iterable<RowValues>): { rows: number; checksum: string } {
  const c = new TableChecksum();
  for (const r of rows) c.add(r);
  return { rows: c.rows, checksum: c.digest() };
}

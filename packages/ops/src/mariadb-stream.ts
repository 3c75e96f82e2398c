import type { Connection as CallbackConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import type { RowValues } from './table-checksum.js';

/**
 * The rows of `sql` one at a time, each value as the server's text protocol prints it (exactly what
 * mariadb-dump writes), NULL as null. The promise wrapper cannot stream; its callback connection can.
 */
export function streamTextRows(conn: mysql.Connection, sql: string, values: unknown[] = []): AsyncIterable<RowValues> {
  const core = (conn as unknown as { connection: CallbackConnection }).connection;
  return core.query({ sql, values, rowsAsArray: true, typeCast: (field) => field.string() }).stream() as AsyncIterable<RowValues>;
}

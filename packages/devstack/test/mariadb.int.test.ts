import { existsSync } from 'node:fs';
import { createConnection, type Connection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, isPortFree, startMariaDb, type MariaDbHandle, type Testbed } from '../src/index.js';

/**
 * A real mariadbd from the rendered my.cnf and init SQL: the service's app user over TCP with mysql2,
 * kill -9 and restart (every committed row survives: innodb_flush_log_at_trx_commit=1), a clean
 * stop/start, and a second startMariaDb on the existing datadir. Restart times are printed.
 */

let bed: Testbed;
let db: MariaDbHandle;
const connections: Connection[] = [];

async function appConnection(): Promise<Connection> {
  const c = bed.model.mariadb;
  const connection = await createConnection({ host: db.host, port: db.port, user: c.config.appUser, password: bed.secrets.mariadb.app, database: c.config.database });
  connections.push(connection);
  return connection;
}

const countRows = async () => Number((await db.sql(`SELECT COUNT(*) FROM ${bed.model.mariadb.config.database}.numbers`)).trim());

beforeAll(async () => {
  bed = await createTestbed({ 'mariadb.innodbLogFileSize': '48M', 'mariadb.innodbBufferPoolSize': '64M' });
  const t0 = Date.now();
  db = await startMariaDb(bed.model, bed.secrets);
  console.log(`[mariadb] installed, started and initialised in ${Date.now() - t0} ms`);
  await db.sql(`CREATE TABLE ${bed.model.mariadb.config.database}.numbers (n BIGINT PRIMARY KEY, issued_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`);
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.end().catch(() => {})));
  await db?.stop();
  bed?.dispose();
});

describe('startMariaDb', () => {
  it('serves the app user over TCP on the model endpoint with SELECT, INSERT, UPDATE only', async () => {
    expect(db.host).toBe('127.0.0.1');
    expect(db.port).toBe(bed.model.mariadb.port);
    const app = await appConnection();
    const [insert] = await app.query<ResultSetHeader>('INSERT INTO numbers (n) VALUES (1), (2), (3)');
    expect(insert.affectedRows).toBe(3);
    await expect(app.query('DELETE FROM numbers')).rejects.toMatchObject({ errno: 1142 });
  });

  it('keeps every committed row across kill -9 and start', async () => {
    const app = await appConnection();
    for (let n = 4; n <= 100; n++) await app.query('INSERT INTO numbers (n) VALUES (?)', [n]);
    const pid = db.pid();
    await db.kill();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(await isPortFree(db.port)).toBe(true);
    const t0 = Date.now();
    await db.start();
    console.log(`[mariadb] crash recovery after kill -9: accepting connections after ${Date.now() - t0} ms`);
    expect(db.pid()).not.toBe(pid);
    expect(await countRows()).toBe(100);
    const again = await appConnection();
    const [rows] = await again.query<RowDataPacket[]>('SELECT MAX(n) AS max FROM numbers');
    expect(Number(rows[0]!.max)).toBe(100);
  });

  it('stops cleanly and starts again', async () => {
    await db.stop();
    expect(existsSync(bed.model.mariadb.pidFile)).toBe(false);
    const t0 = Date.now();
    await db.start();
    console.log(`[mariadb] start after a clean shutdown: ${Date.now() - t0} ms`);
    expect(await countRows()).toBe(100);
  });

  it('reuses an existing datadir: a second startMariaDb keeps the data and reapplies the init SQL', async () => {
    await db.stop();
    db = await startMariaDb(bed.model, bed.secrets);
    expect(await countRows()).toBe(100);
    const app = await appConnection();
    const [update] = await app.query<ResultSetHeader>('UPDATE numbers SET issued_at = NOW(6) - INTERVAL 1 DAY WHERE n = 1');
    expect(update.affectedRows).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { DumpParser, type DumpSummary } from '../src/mariadb-dump.js';
import { checksumOf, TableChecksum, type RowValues } from '../src/table-checksum.js';

/** The shape of a MariaDB 10.11 mariadb-dump (one row per line), trimmed to what the parser looks at. */
export const SAMPLE_DUMP = String.raw`/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: numbering
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1-log

/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;

-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000001', MASTER_LOG_POS=11799;

DROP TABLE IF EXISTS ${'`'}counters${'`'};
CREATE TABLE ${'`'}counters${'`'} (
  ${'`'}counter_key${'`'} varchar(255) NOT NULL,
  PRIMARY KEY (${'`'}counter_key${'`'})
) ENGINE=InnoDB;

LOCK TABLES ${'`'}counters${'`'} WRITE;
/*!40000 ALTER TABLE ${'`'}counters${'`'} DISABLE KEYS */;
INSERT INTO ${'`'}counters${'`'} VALUES
('TRANSMITTAL|-|X',3,'-',1,2,999999,'2026-11-23 12:57:44.966','2026-11-23 12:57:44.966');
/*!40000 ALTER TABLE ${'`'}counters${'`'} ENABLE KEYS */;
UNLOCK TABLES;

CREATE TABLE ${'`'}numbers${'`'} (
  ${'`'}id${'`'} bigint(20) unsigned NOT NULL AUTO_INCREMENT
) ENGINE=InnoDB;

LOCK TABLES ${'`'}numbers${'`'} WRITE;
INSERT INTO ${'`'}numbers${'`'} VALUES
(1,'TRANSMITTAL|-|X',1,1,'A-1','{\"a\":\"it\'s \\ \n x\"}',NULL),
(2,'TRANSMITTAL|-|X',1,2,'A-2','{}','ünï, (not) a row; '''),
(3,'TRANSMITTAL|-|X',1,3,_binary 'b\0\r\Z',NULL,'');
UNLOCK TABLES;

CREATE TABLE ${'`'}empty${'`'} (${'`'}id${'`'} int);
/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;

-- Dump completed on 2026-11-23 12:57:45
`;

const NUMBERS_ROWS: RowValues[] = [
  ['1', 'TRANSMITTAL|-|X', '1', '1', 'A-1', '{"a":"it\'s \\ \n x"}', null],
  ['2', 'TRANSMITTAL|-|X', '1', '2', 'A-2', '{}', "ünï, (not) a row; '"],
  ['3', 'TRANSMITTAL|-|X', '1', '3', 'b\0\r\x1a', null, ''],
];

function parse(text: string, chunk = text.length, onRow?: (table: string, values: RowValues) => void): DumpSummary {
  const p = new DumpParser(onRow ? { onRow } : {});
  for (let i = 0; i < text.length; i += chunk) p.feed(text.slice(i, i + chunk));
  return p.end();
}

describe('DumpParser', () => {
  it('reads the header, tables, binlog position and completion marker', () => {
    const s = parse(SAMPLE_DUMP);
    expect(s.database).toBe('numbering');
    expect(s.serverVersion).toBe('10.11.19-MariaDB-0+deb12u1-log');
    expect(s.binlog).toEqual({ file: 'mariadb-bin.000001', position: 11799 });
    expect(s.tables).toEqual(['counters', 'numbers', 'empty']);
    expect(s.completed).toBe(true);
    expect(s.errors).toEqual([]);
    expect(s.foreign).toEqual([]);
    expect(s.data.get('counters')?.rows).toBe(1);
    expect(s.data.get('empty')).toEqual({ rows: 0, checksum: new TableChecksum().digest() });
  });

  it('unescapes values exactly as the server holds them, so the checksum matches rows read back live', () => {
    const seen: RowValues[] = [];
    const s = parse(SAMPLE_DUMP, undefined, (table, values) => table === 'numbers' && seen.push(values));
    expect(seen).toEqual(NUMBERS_ROWS);
    expect(s.data.get('numbers')).toEqual(checksumOf(NUMBERS_ROWS));
    // Order does not matter, a repeated row does.
    expect(checksumOf([...NUMBERS_ROWS].reverse())).toEqual(checksumOf(NUMBERS_ROWS));
    expect(checksumOf([...NUMBERS_ROWS, NUMBERS_ROWS[0]!]).checksum).not.toBe(checksumOf(NUMBERS_ROWS).checksum);
    expect(checksumOf([NUMBERS_ROWS[0]!, NUMBERS_ROWS[0]!]).checksum).not.toBe(checksumOf([]).checksum);
  });

  it('gives the same result however the text is cut into chunks, and for one-line extended INSERTs', () => {
    const whole = parse(SAMPLE_DUMP);
    for (const chunk of [1, 2, 3, 7, 64]) expect(parse(SAMPLE_DUMP, chunk)).toEqual(whole);
    const oneLine = SAMPLE_DUMP.replace(/VALUES\n\(/g, 'VALUES (').replace(/\),\n\(/g, '),(');
    expect(oneLine).not.toBe(SAMPLE_DUMP);
    expect(parse(oneLine).data).toEqual(whole.data);
  });

  it('notices a dump cut short: no completion line, an unterminated INSERT', () => {
    const cut = SAMPLE_DUMP.slice(0, SAMPLE_DUMP.indexOf("(2,'TRANSMITTAL") + 20);
    const s = parse(cut);
    expect(s.completed).toBe(false);
    expect(s.errors.join()).toContain('the INSERT into numbers is not terminated');
    expect(s.data.get('numbers')?.rows).toBe(1);
  });

  it('flags statements that reach outside one database and rows of tables it never creates', () => {
    const s = parse(`-- Host: h    Database: \nUSE \`shop\`;\n/*!40000 CREATE DATABASE x */;\nCHANGE MASTER TO MASTER_HOST='evil';\nINSERT INTO \`orders\` VALUES (1);\n`);
    expect(s.database).toBeUndefined();
    expect(s.foreign).toEqual(['USE `shop`;', 'CREATE DATABASE x */;', "CHANGE MASTER TO MASTER_HOST='evil';"]);
    expect(s.errors).toEqual(['rows for table orders, which the dump does not create']);
  });

  it('reports text that is not a row list instead of guessing', () => {
    const s = parse('CREATE TABLE `t` (a int);\nINSERT INTO `t` VALUES (1),garbage;\n-- Dump completed\n');
    expect(s.errors[0]).toContain('unexpected "g" between rows of t');
    expect(s.completed).toBe(true);
  });
});

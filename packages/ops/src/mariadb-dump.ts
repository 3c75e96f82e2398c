import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { TableChecksum, type RowValues } from './table-checksum.js';

/**
 * Reads what a mariadb-dump (or mysqldump) file says about itself: which database it was taken of,
 * the tables it creates, every row it inserts (counted and checksummed per table, see TableChecksum),
 * the binary log position (`--master-data=2`), statements that would reach outside the database it is
 * loaded into, and whether it ends with the dump's completion line. The same pass runs over the dump
 * stream while a backup is written (for the manifest) and over the file before a restore (to check it).
 *
 * Each extended INSERT may span lines (MariaDB 10.11 prints one row per line) or be one long line
 * (older dumps); string literals never contain a raw newline (the dump escapes them as `\n`).
 */

export interface DumpSummary {
  /** From the `-- Host: ...    Database: NAME` header; undefined for a dump of several databases. */
  database?: string;
  serverVersion?: string;
  /** From `-- CHANGE MASTER TO MASTER_LOG_FILE='...', MASTER_LOG_POS=...` (`--master-data=2`). */
  binlog?: { file: string; position: number };
  /** Tables the dump creates, in dump order. */
  tables: string[];
  /** Row count and checksum of every created table (0 rows when it has no INSERT). */
  data: Map<string, { rows: number; checksum: string }>;
  /** Statements that would act outside the database the dump is loaded into (`USE`, `CREATE DATABASE`, ...). */
  foreign: string[];
  /** The last non-empty line is mariadb-dump's `-- Dump completed` marker. */
  completed: boolean;
  /** Text the parser could not read as a dump (first few). */
  errors: string[];
}

const FOREIGN_STATEMENT = /^(USE\s|CREATE\s+DATABASE|CREATE\s+SCHEMA|DROP\s+DATABASE|DROP\s+SCHEMA|CHANGE\s+MASTER|GRANT\s|REVOKE\s|CREATE\s+USER|DROP\s+USER|ALTER\s+USER|SET\s+GLOBAL|SET\s+PASSWORD|INSTALL\s|LOAD\s+DATA)/i;
/** `/*!40101 SET ... *\/` and `/*M!999999 ... *\/`: executable comments; their body is a statement like any other. */
const VERSIONED_COMMENT = /^\/\*M?!\d*\s*/;
const MAX_ERRORS = 5;

/** A backquoted identifier at the start of `text` (``a``b`` → a`b), or undefined. */
function readIdentifier(text: string): string | undefined {
  if (text[0] !== '`') return undefined;
  let name = '';
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '`') {
      if (text[i + 1] === '`') {
        name += '`';
        i++;
        continue;
      }
      return name;
    }
    name += text[i];
  }
  return undefined;
}

const ESCAPES: Record<string, string> = { '0': '\0', n: '\n', r: '\r', t: '\t', b: '\b', Z: '\x1a' };

type InsertState = 'between' | 'value' | 'string' | 'quote' | 'escape';

export interface DumpParserOptions {
  /** Sees every row (its values as the dump prints them) after it is checksummed. */
  onRow?: (table: string, values: RowValues) => void;
}

export class DumpParser {
  constructor(private readonly opts: DumpParserOptions = {}) {}

  private readonly summary: DumpSummary = { tables: [], data: new Map(), foreign: [], completed: false, errors: [] };
  private readonly checksums = new Map<string, TableChecksum>();
  private pending = '';
  private lastLine = '';
  // Inside `INSERT INTO t VALUES ...` until its `;`.
  private insertTable: string | undefined;
  private state: InsertState = 'between';
  private values: (string | null)[] = [];
  private token = '';
  private quoted = false;
  private text = '';

  /** Any chunk of the dump text (lines may be split across chunks). */
  feed(chunk: string): void {
    const text = this.pending + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.pending = text.slice(start);
  }

  end(): DumpSummary {
    if (this.pending) this.line(this.pending);
    this.pending = '';
    if (this.insertTable !== undefined) this.error(`the INSERT into ${this.insertTable} is not terminated (the dump ends inside it)`);
    this.summary.completed = /^-- Dump completed( on .*)?$/.test(this.lastLine.trim());
    for (const table of this.summary.tables) {
      const c = this.checksums.get(table) ?? new TableChecksum();
      this.summary.data.set(table, { rows: c.rows, checksum: c.digest() });
    }
    return this.summary;
  }

  private error(message: string): void {
    if (this.summary.errors.length < MAX_ERRORS) this.summary.errors.push(message);
  }

  private line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim()) this.lastLine = line;
    if (this.insertTable !== undefined) {
      this.values_(line + '\n');
      return;
    }
    if (line.startsWith('--')) {
      this.comment(line);
      return;
    }
    const statement = line.replace(VERSIONED_COMMENT, '');
    if (statement.startsWith('INSERT INTO ')) {
      const table = readIdentifier(statement.slice('INSERT INTO '.length));
      const at = statement.indexOf(' VALUES');
      if (table === undefined || at === -1) {
        this.error(`unreadable INSERT: ${statement.slice(0, 80)}`);
        return;
      }
      if (!this.summary.tables.includes(table)) this.error(`rows for table ${table}, which the dump does not create`);
      this.insertTable = table;
      this.state = 'between';
      this.values_(statement.slice(at + ' VALUES'.length) + '\n');
      return;
    }
    if (statement.startsWith('CREATE TABLE ')) {
      const table = readIdentifier(statement.slice('CREATE TABLE '.length).replace(/^IF NOT EXISTS /, ''));
      if (table === undefined) this.error(`unreadable CREATE TABLE: ${statement.slice(0, 80)}`);
      else if (!this.summary.tables.includes(table)) this.summary.tables.push(table);
      return;
    }
    if (FOREIGN_STATEMENT.test(statement.trimStart())) this.summary.foreign.push(statement.trim().slice(0, 120));
  }

  private comment(line: string): void {
    const host = /^-- Host: .*?\s+Database: (\S*)\s*$/.exec(line);
    if (host) this.summary.database = host[1] || undefined;
    const version = /^-- Server version\s+(.+)$/.exec(line);
    if (version) this.summary.serverVersion = version[1]!.trim();
    const binlog = /^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)/.exec(line);
    if (binlog) this.summary.binlog = { file: binlog[1]!, position: Number(binlog[2]) };
  }

  private finishValue(): void {
    const token = this.token.trim();
    if (this.quoted) {
      // A charset introducer (`_binary '...'`) may precede the literal; the value is the literal.
      if (token && !/^_[a-z0-9]+$/i.test(token)) this.error(`unexpected ${JSON.stringify(token)} before a string in ${this.insertTable}`);
      this.values.push(this.text);
    } else {
      if (!token) this.error(`empty value in a row of ${this.insertTable}`);
      this.values.push(token === 'NULL' ? null : token);
    }
    this.token = '';
    this.text = '';
    this.quoted = false;
  }

  private row(values: RowValues): void {
    const table = this.insertTable!;
    let c = this.checksums.get(table);
    if (!c) this.checksums.set(table, (c = new TableChecksum()));
    c.add(values);
    this.opts.onRow?.(table, values);
  }

  /** The state machine over `(v, 'str', NULL), (...);` — resumable at any character. */
  private values_(s: string): void {
    let i = 0;
    const n = s.length;
    while (i < n) {
      const ch = s[i]!;
      switch (this.state) {
        case 'between':
          if (ch === '(') {
            this.values = [];
            this.token = '';
            this.text = '';
            this.quoted = false;
            this.state = 'value';
          } else if (ch === ';') {
            this.insertTable = undefined;
            return;
          } else if (ch !== ',' && ch !== ' ' && ch !== '\n' && ch !== '\t' && ch !== '\r') {
            this.error(`unexpected ${JSON.stringify(ch)} between rows of ${this.insertTable}`);
            this.insertTable = undefined;
            return;
          }
          i++;
          break;
        case 'value':
          if (ch === "'") {
            this.quoted = true;
            this.state = 'string';
          } else if (ch === ',') {
            this.finishValue();
          } else if (ch === ')') {
            this.finishValue();
            this.row(this.values);
            this.state = 'between';
          } else {
            this.token += ch;
          }
          i++;
          break;
        case 'string': {
          // Copy up to the next quote or backslash in one go: most of a dump is string contents.
          let j = i;
          while (j < n && s[j] !== "'" && s[j] !== '\\') j++;
          this.text += s.slice(i, j);
          if (j < n) this.state = s[j] === "'" ? 'quote' : 'escape';
          i = j + 1;
          break;
        }
        case 'quote':
          // `''` inside a literal is a quote; anything else ends the literal and is read as part of the value.
          if (ch === "'") {
            this.text += "'";
            this.state = 'string';
            i++;
          } else {
            this.state = 'value';
          }
          break;
        case 'escape':
          this.text += ESCAPES[ch] ?? ch;
          this.state = 'string';
          i++;
          break;
      }
    }
  }
}

export interface ScannedDump {
  bytes: number;
  sha256: string;
  /** Set when the file is not a complete gzip stream (truncated, corrupt). */
  gzipError?: string;
  summary: DumpSummary;
}

/** Reads a `.sql.gz` twice (the raw bytes for the hash, decompressed for the parser); never throws for bad content. */
export async function scanDumpFile(path: string): Promise<ScannedDump> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const parser = new DumpParser();
  const decoder = new StringDecoder('utf8');
  let gzipError: string | undefined;
  try {
    await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) parser.feed(decoder.write(chunk));
    });
    parser.feed(decoder.end());
  } catch (e) {
    gzipError = (e as Error).message;
  }
  return { bytes, sha256: hash.digest('hex'), ...(gzipError ? { gzipError } : {}), summary: parser.end() };
}

import type { PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** The tuned numbering my.cnf ([client] + [mariadbd]). */
export function renderMariaDbCnf(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderMariaDbCnf');
}

/** Idempotent init SQL: database, users (numbering: SELECT, INSERT, UPDATE only), grants. */
export function renderMariaDbInitSql(_model: PlatformModel, _secrets: PlatformSecrets): string {
  throw new Error('not implemented yet: renderMariaDbInitSql');
}

/** my.cnf for mysqld-exporter (--config.my-cnf). */
export function renderMysqldExporterCnf(_model: PlatformModel, _secrets: PlatformSecrets): string {
  throw new Error('not implemented yet: renderMysqldExporterCnf');
}

import type { PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** pgbouncer.ini in front of HAProxy (server_login_retry = 1). */
export function renderPgbouncerIni(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderPgbouncerIni');
}

/** userlist.txt for auth_file. */
export function renderPgbouncerUserlist(_model: PlatformModel, _secrets: PlatformSecrets): string {
  throw new Error('not implemented yet: renderPgbouncerUserlist');
}

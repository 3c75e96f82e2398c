import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PlatformSecrets } from '@numbering/blueprint';

const password = () => randomBytes(18).toString('base64url');

/** Fresh random credentials for every user of the platform (alert receivers stay unset locally). */
export function generateSecrets(webhookUrl?: string): PlatformSecrets {
  return {
    redis: { admin: password(), app: password(), replication: password(), exporter: password() },
    mariadb: { root: password(), app: password(), migrator: password(), exporter: password(), backup: password() },
    postgres: { superuser: password(), replication: password(), rewind: password(), app: password() },
    service: { adminToken: password() },
    alerting: webhookUrl ? { telegramWebhookUrl: webhookUrl } : {},
  };
}

/** The devstack keeps its secrets beside its data, so a restart finds the passwords its data was made with. */
export function loadOrCreateSecrets(file: string, webhookUrl?: string): PlatformSecrets {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as PlatformSecrets;
  const secrets = generateSecrets(webhookUrl);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/**
 * Every credential the platform uses. On Pulumi stacks each value comes from a `random.RandomPassword`
 * (or `pulumi config set --secret` for alert receivers) and renderers run inside `.apply`, so rendered
 * files that contain one stay secret. The devstack generates and keeps its own.
 */
export interface PlatformSecrets {
  redis: {
    /** `admin` ACL user: cluster create/check, backups. */
    admin: string;
    /** `app` ACL user: the numbering service; dangerous commands denied. */
    app: string;
    /** `repl` ACL user: replicas authenticate to masters (`masteruser`). */
    replication: string;
    /** `exporter` ACL user: read-only metrics commands. */
    exporter: string;
  };
  mariadb: {
    root: string;
    /** `numbering` user: SELECT, INSERT, UPDATE on the numbering schema only. */
    app: string;
    /** `migrator` user: runs the numbered SQL migrations (DDL on the numbering schema). */
    migrator: string;
    exporter: string;
    /** `backup` user: consistent dumps (SELECT, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER, RELOAD). */
    backup: string;
  };
  postgres: {
    superuser: string;
    replication: string;
    rewind: string;
    app: string;
  };
  service: {
    /** Bearer token of the admin API. */
    adminToken: string;
  };
  /** Alert receivers; an absent value disables that receiver. */
  alerting: {
    slackWebhookUrl?: string;
    pagerdutyRoutingKey?: string;
    telegramWebhookUrl?: string;
    smtpPassword?: string;
  };
}

/** Fixed, obviously fake secrets for renderer tests and config validation only. */
export function exampleSecrets(): PlatformSecrets {
  return {
    redis: { admin: 'redis-admin-pw', app: 'redis-app-pw', replication: 'redis-repl-pw', exporter: 'redis-exporter-pw' },
    mariadb: { root: 'mariadb-root-pw', app: 'mariadb-app-pw', migrator: 'mariadb-migrator-pw', exporter: 'mariadb-exporter-pw', backup: 'mariadb-backup-pw' },
    postgres: { superuser: 'pg-super-pw', replication: 'pg-repl-pw', rewind: 'pg-rewind-pw', app: 'pg-app-pw' },
    service: { adminToken: 'admin-token-0123456789abcdef' },
    alerting: {
      slackWebhookUrl: 'https://hooks.slack.example/services/T000/B000/XXXX',
      pagerdutyRoutingKey: '0123456789abcdef0123456789abcdef',
      telegramWebhookUrl: 'http://127.0.0.1:9095/telegram',
    },
  };
}

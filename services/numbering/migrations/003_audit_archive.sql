-- Archive of audit_log rows older than the online retention, filled by `pnpm ops archive-audit`
-- (as the migrator user). Same columns as audit_log; `id` keeps the original row's id (no
-- AUTO_INCREMENT), so an archived row is the same row and can never be archived twice.
-- Idempotent (IF NOT EXISTS), like every migration.

CREATE TABLE IF NOT EXISTS audit_log_archive (
  id           BIGINT UNSIGNED NOT NULL,
  created_at   DATETIME(3)  NOT NULL,
  actor        VARCHAR(64)  NOT NULL,
  action       VARCHAR(32)  NOT NULL,
  template_id  BIGINT UNSIGNED NULL,
  counter_key  VARCHAR(255) NULL,
  number       VARCHAR(64)  NULL,
  sequence     BIGINT UNSIGNED NULL,
  reason       VARCHAR(500) NULL,
  details      TEXT NULL,
  PRIMARY KEY (id),
  KEY ix_audit_archive_counter (counter_key),
  KEY ix_audit_archive_number (number),
  KEY ix_audit_archive_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

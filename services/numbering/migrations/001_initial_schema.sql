-- Templates, counters, the number ledger and the audit log.
-- Every statement is idempotent (IF NOT EXISTS), so a run interrupted half-way can simply be repeated.

CREATE TABLE IF NOT EXISTS templates (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name         VARCHAR(64)  NOT NULL,
  pattern      VARCHAR(200) NOT NULL,
  reset_scope  ENUM('YEARLY', 'MONTHLY', 'NONE') NOT NULL,
  max_value    BIGINT UNSIGNED NOT NULL,
  description  VARCHAR(500) NOT NULL DEFAULT '',
  active       TINYINT(1)   NOT NULL DEFAULT 1,
  -- Bumped on every change; an allocation batch re-checks it inside its transaction.
  version      INT UNSIGNED NOT NULL DEFAULT 1,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_templates_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per gapless series; `SELECT ... FOR UPDATE` on it is the allocation lock.
CREATE TABLE IF NOT EXISTS counters (
  counter_key    VARCHAR(255) NOT NULL,
  template_id    BIGINT UNSIGNED NOT NULL,
  period         VARCHAR(16)  NOT NULL,
  -- A reset starts a new epoch at 0; sequences are unique per (counter_key, epoch).
  epoch          INT UNSIGNED NOT NULL DEFAULT 1,
  current_value  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  max_value      BIGINT UNSIGNED NOT NULL,
  created_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (counter_key),
  KEY ix_counters_template (template_id),
  KEY ix_counters_updated (updated_at),
  CONSTRAINT fk_counters_template FOREIGN KEY (template_id) REFERENCES templates (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The ledger: every sequence value of every counter epoch, exactly once, with its state.
-- Rows are never deleted; state changes are UPDATEs.
CREATE TABLE IF NOT EXISTS numbers (
  id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  counter_key        VARCHAR(255) NOT NULL,
  epoch              INT UNSIGNED NOT NULL,
  sequence           BIGINT UNSIGNED NOT NULL,
  -- NULL only for SKIPPED sequence values (their text was already issued).
  number             VARCHAR(64)  NULL,
  template_id        BIGINT UNSIGNED NOT NULL,
  state              ENUM('RESERVED', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'VOID', 'SKIPPED') NOT NULL,
  fields             TEXT NOT NULL,
  reservation_token  CHAR(36)     NULL,
  expires_at         DATETIME(3)  NULL,
  idempotency_key    VARCHAR(128) NULL,
  request_hash       CHAR(64)     NULL,
  voided_from        VARCHAR(64)  NULL,
  replaced_by        VARCHAR(64)  NULL,
  note               VARCHAR(500) NULL,
  issued_by          VARCHAR(64)  NOT NULL,
  created_at         DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at         DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_numbers_sequence (counter_key, epoch, sequence),
  UNIQUE KEY uq_numbers_number (number),
  UNIQUE KEY uq_numbers_token (reservation_token),
  UNIQUE KEY uq_numbers_idempotency (idempotency_key),
  KEY ix_numbers_expiry (state, expires_at),
  CONSTRAINT fk_numbers_counter FOREIGN KEY (counter_key) REFERENCES counters (counter_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS audit_log (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  actor        VARCHAR(64)  NOT NULL,
  action       VARCHAR(32)  NOT NULL,
  template_id  BIGINT UNSIGNED NULL,
  counter_key  VARCHAR(255) NULL,
  number       VARCHAR(64)  NULL,
  sequence     BIGINT UNSIGNED NULL,
  reason       VARCHAR(500) NULL,
  details      TEXT NULL,
  PRIMARY KEY (id),
  KEY ix_audit_counter (counter_key),
  KEY ix_audit_number (number),
  KEY ix_audit_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

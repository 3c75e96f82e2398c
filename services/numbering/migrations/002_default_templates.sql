-- Document types every installation starts with; admins add more through the admin API.
-- INSERT IGNORE keeps a template an admin has changed since.

INSERT IGNORE INTO templates (name, pattern, reset_scope, max_value, description) VALUES
  ('CORRESPONDENCE', '{PROJECT}-{ORIGINATOR}-{RECIPIENT}-{CORR_TYPE}-{YYYY}-{SEQ:4}', 'YEARLY', 9999, 'letters and memos, yearly series per originator, recipient and type'),
  ('RFA', '{PROJECT}-RFA-{DISCIPLINE}-{RFA_TYPE}-{YEAR:B.E.}-{SEQ:4}', 'YEARLY', 9999, 'requests for approval, Buddhist-era year'),
  ('TRANSMITTAL', '{PROJECT}-TRN-{ORIGINATOR}-{SEQ:6}', 'NONE', 999999, 'transmittals, one series per originator, never reset'),
  ('CIRCULATION', '{PROJECT}-CIR-{YY}{MM}-{SEQ:4}', 'MONTHLY', 9999, 'internal circulation, monthly series');

INSERT INTO audit_log (actor, action, template_id, reason, details)
SELECT 'migration', 'TEMPLATE_CREATE', t.id, 'default template (migration 002)', CONCAT('{"pattern":', JSON_QUOTE(t.pattern), '}')
FROM templates t
WHERE t.name IN ('CORRESPONDENCE', 'RFA', 'TRANSMITTAL', 'CIRCULATION')
  AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.template_id = t.id AND a.action = 'TEMPLATE_CREATE');

import { parseDuration, parsePositiveInt, UsageError, type Command, type ParsedArgs } from '../command.js';
import type { OpsContext } from '../context.js';
import { archiveAudit } from '../audit-archive.js';
import { OPS_ACTOR, sqlDateTime, withNumberingDb } from '../sequence-db.js';
import { adjustMax, expireReservations, readCounterUsage, yearlyReset, type MaxTarget } from '../sequence-maintenance.js';
import { defaultResetYear } from '../sequence-patterns.js';
import { formatPercent, formatReport, reportRows, summaryLine, utilization, type Thresholds } from '../sequence-report.js';

/**
 * Counters and their ledger: `sequences` (utilization report), `adjust-max`, `yearly-reset`,
 * `archive-audit`, `cleanup-reservations`. The database work is in sequence-maintenance.ts and
 * audit-archive.ts; this module parses arguments and prints.
 */

function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

function noPositionals(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])} (this command takes options only)`);
}

/** A duration option that must be positive (`0d` would select nothing or everything). */
function positiveDuration(text: string, option: string): number {
  const ms = parseDuration(text, option);
  if (ms <= 0) throw new UsageError(`${option} must be longer than 0, got ${JSON.stringify(text)}`);
  return ms;
}

/** The audit log's `reason` column, with the admin API's bounds (3..500 characters). */
export function parseReason(text: string | undefined, option = '--reason'): string {
  if (text === undefined) throw new UsageError(`${option} is required (it is kept in the audit log), e.g. ${option} "INC-123 range too small"`);
  const reason = text.trim();
  if (reason.length < 3 || reason.length > 500) throw new UsageError(`${option} must be 3 to 500 characters, got ${reason.length}`);
  return reason;
}

export function parseYear(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{4}$/.test(text) || Number(text) < 1970) throw new UsageError(`--year must be a four-digit year such as 2027, got ${JSON.stringify(text)}`);
  return Number(text);
}

const thresholdsOf = (ctx: OpsContext): Thresholds => ({ warning: ctx.model.monitoring.config.sequenceWarningRatio, critical: ctx.model.monitoring.config.sequenceCriticalRatio });
const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

const sequences: Command = {
  name: 'sequences',
  summary: 'utilization of every counter: current, max, % used, allocations per day, days to exhaustion',
  help: `  --template NAME     only this template's counters
  --window DURATION   rate over this recent period of the ledger, e.g. 7d, 36h, 2w (default 7d)
Sorted by utilization. Rows above monitoring.sequenceWarningRatio are marked "!" and those above
sequenceCriticalRatio "!!" (the SequenceWarning/SequenceCritical alert thresholds). Days left is the
remaining range divided by the rate: "never" without allocations in the window, "-" for a counter of
a closed period (last year's series of a yearly template). Read-only (MariaDB account backup).`,
  options: { template: { type: 'string' }, window: { type: 'string' } },
  async run(ctx, args) {
    noPositionals(args);
    const windowText = stringOption(args, 'window') ?? '7d';
    const windowMs = positiveDuration(windowText, '--window');
    const template = stringOption(args, 'template');
    const now = ctx.now();
    const usages = await withNumberingDb(ctx, 'backup', (conn) => readCounterUsage(conn, { ...(template ? { template } : {}), since: new Date(now.getTime() - windowMs) }));
    if (usages.length === 0) {
      ctx.io.out(template ? `template ${template} has no counters yet (its first allocation creates one)` : 'no counters yet (each is created by its first allocation)');
      return 0;
    }
    const thresholds = thresholdsOf(ctx);
    const rows = reportRows(usages, { windowMs, now, thresholds });
    ctx.io.out(`counters of ${ctx.description}, allocation rate over the last ${windowText}:`);
    for (const line of formatReport(rows, thresholds)) ctx.io.out(line);
    ctx.io.out(summaryLine(rows, thresholds));
    return 0;
  },
};

const adjustMaxCommand: Command = {
  name: 'adjust-max',
  summary: 'raise (or lower, never below a counter\'s current value) max_value of a template or one counter, audited',
  help: `  --template NAME     the template and every one of its counters (as POST /v1/admin/templates/NAME/max-value)
  --counter KEY       one counter only (the template keeps its max_value; a later template-level change
                      sets every counter again)
  --max N             the new maximum: at most what the pattern's {SEQ:n} prints (10^n - 1), and never
                      below a counter's current value (refused, nothing changed)
  --reason TEXT       kept in the audit log (required)
One transaction: the template row, then its counter rows, locked (SELECT ... FOR UPDATE) as the
service's own admin change locks them, so it is safe while the service allocates.`,
  options: { template: { type: 'string' }, counter: { type: 'string' }, max: { type: 'string' }, reason: { type: 'string' } },
  async run(ctx, args) {
    noPositionals(args);
    const template = stringOption(args, 'template');
    const counterKey = stringOption(args, 'counter');
    if ((template === undefined) === (counterKey === undefined)) throw new UsageError('give exactly one of --template NAME or --counter KEY');
    const max = parsePositiveInt(stringOption(args, 'max'), '--max');
    const reason = parseReason(stringOption(args, 'reason'));
    const target: MaxTarget = template !== undefined ? { template } : { counterKey: counterKey! };
    const r = await withNumberingDb(ctx, 'app', (conn) => adjustMax(conn, target, max, reason));
    if (!r.changed) {
      ctx.io.out(`${template !== undefined ? `template ${r.template} and its counters` : `counter ${counterKey}`}: max_value is already ${max}; nothing changed`);
      return 0;
    }
    if (template !== undefined) {
      ctx.io.out(`template ${r.template}: max_value ${r.templateMax.from} -> ${max}; ${plural(r.counters.length, 'counter')} updated (audit action MAX_VALUE_ADJUST, actor ${OPS_ACTOR})`);
    } else {
      ctx.io.out(`counter ${counterKey}: max_value ${r.counters[0]!.from} -> ${max} (audit action MAX_VALUE_ADJUST, actor ${OPS_ACTOR}); template ${r.template} keeps max_value ${r.templateMax.to}`);
    }
    for (const c of r.counters) ctx.io.out(`  ${c.counterKey}: current ${c.currentValue}, max ${c.from} -> ${c.to} (${formatPercent(utilization(c.currentValue, c.to))} used)`);
    return 0;
  },
};

const yearlyResetCommand: Command = {
  name: 'yearly-reset',
  summary: "pre-create (and verify) the new year's counters of YEARLY templates; idempotent",
  help: `  --year YYYY         the year to prepare (default: the current UTC year; in December the coming one)
  --reason TEXT       kept in the audit log (default "yearly reset: counters of YYYY")
  --dry-run           show what would be created; change nothing
The service resets yearly series by itself: a counter key contains its period
(CORRESPONDENCE|2026|PROJECT=...), and the first allocation of a new year creates that year's counter
at 0 (epoch 1, the template's max_value). Nothing is rolled back or renumbered, and last year's
counters stay as they are. This command therefore pre-creates, for every scope a YEARLY template had
in the previous year, the new year's counter exactly as the service would (INSERT IGNORE, audit
action COUNTER_PRECREATE), and reports counters already present (created by the service or an
earlier run) and scopes that no longer match the template's pattern. A second run creates nothing
and says so.`,
  options: { year: { type: 'string' }, reason: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
  async run(ctx, args) {
    noPositionals(args);
    const year = parseYear(stringOption(args, 'year')) ?? defaultResetYear(ctx.now());
    const dryRun = args.values['dry-run'] === true;
    const reason = parseReason(stringOption(args, 'reason') ?? `yearly reset: counters of ${year}`);
    const r = await withNumberingDb(ctx, 'app', (conn) => yearlyReset(conn, { year, dryRun, reason }));
    const verb = dryRun ? 'would create' : 'created';
    ctx.io.out(`yearly reset ${year} on ${ctx.description}${dryRun ? ' (dry run)' : ''}:`);
    if (r.templates.length === 0) ctx.io.out('  no active YEARLY templates');
    for (const t of r.templates) {
      ctx.io.out(`  ${t.template}: ${plural(t.previous, 'counter')} in ${year - 1} -> ${t.created.length} ${verb}, ${t.present.length} already present in ${year}`);
      for (const key of t.created) ctx.io.out(`    + ${key}`);
      for (const u of t.unmatched) ctx.io.out(`    ? ${u.counterKey}: not carried over (${u.why}); the service creates its ${year} counter on first use`);
      for (const m of t.maxDiffers) ctx.io.out(`    note: ${m.counterKey} has max_value ${m.maxValue}, the template ${t.templateMax}`);
    }
    if (r.inactive.length > 0) ctx.io.out(`  skipped deactivated templates: ${r.inactive.join(', ')}`);
    const created = r.templates.reduce((n, t) => n + t.created.length, 0);
    const present = r.templates.reduce((n, t) => n + t.present.length, 0);
    if (dryRun) ctx.io.out(`dry run: would create ${plural(created, 'counter')} of ${year}; nothing was changed`);
    else if (created > 0) ctx.io.out(`created ${plural(created, 'counter')} of ${year} (epoch 1, value 0); ${present} already existed`);
    else if (present > 0) ctx.io.out(`nothing to do: every ${year - 1} scope already has its ${year} counter (${plural(present, 'counter')} of ${year}); nothing changed`);
    else ctx.io.out(`nothing to do: no YEARLY counters in ${year - 1} to carry over (the service creates ${year}'s counters on first use); nothing changed`);
    return 0;
  },
};

const ARCHIVE_MAX_BATCH = 50_000;

const archiveAuditCommand: Command = {
  name: 'archive-audit',
  summary: 'move audit_log rows older than a cutoff into audit_log_archive, in verified batches; idempotent',
  help: `  --older-than DURATION  rows created before now minus this, e.g. 2y, 400d (required)
  --batch N              rows per transaction (default 1000, at most ${ARCHIVE_MAX_BATCH})
  --dry-run              count what would move; change nothing
Each batch is one transaction: lock the rows, INSERT ... SELECT them into audit_log_archive (created by
the service's migration 003), check the archive holds every one with identical contents, then DELETE
exactly those ids; a batch that does not check out is rolled back, so no row is ever deleted
unarchived. Runs as the MariaDB migrator account (the service's app account cannot delete).`,
  options: { 'older-than': { type: 'string' }, batch: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
  async run(ctx, args) {
    noPositionals(args);
    const olderThan = stringOption(args, 'older-than');
    if (olderThan === undefined) throw new UsageError('--older-than is required, e.g. --older-than 2y');
    const ms = positiveDuration(olderThan, '--older-than');
    const batchSize = parsePositiveInt(stringOption(args, 'batch'), '--batch', 1000);
    if (batchSize > ARCHIVE_MAX_BATCH) throw new UsageError(`--batch must be at most ${ARCHIVE_MAX_BATCH}, got ${batchSize}`);
    const dryRun = args.values['dry-run'] === true;
    const cutoff = new Date(ctx.now().getTime() - ms);
    const r = await withNumberingDb(ctx, 'migrator', (conn) =>
      archiveAudit(conn, { cutoff, batchSize, dryRun, onBatch: (b) => ctx.io.progress(`archive-audit batch ${b.number}`, `${b.moved} rows moved, up to id ${b.lastId}`) }),
    );
    ctx.io.out(`audit_log rows created before ${sqlDateTime(cutoff)} UTC (older than ${olderThan}): ${r.due}${r.oldest ? ` (oldest ${r.oldest}, newest ${r.newest})` : ''}`);
    if (dryRun) {
      ctx.io.out(`dry run: would move ${r.due} rows in ${Math.ceil(r.due / batchSize)} batches of up to ${batchSize}; nothing was changed (audit_log ${r.auditRows} rows, audit_log_archive ${r.archiveRows})`);
    } else if (r.moved === 0) {
      ctx.io.out(`nothing to archive; nothing changed (audit_log ${r.auditRows} rows, audit_log_archive ${r.archiveRows})`);
    } else {
      const again = r.moved - r.copied;
      ctx.io.out(
        `moved ${plural(r.moved, 'row')} to audit_log_archive in ${plural(r.batches, 'batch', 'batches')}${again > 0 ? ` (${again} already archived with identical contents: only removed from audit_log)` : ''}; audit_log now ${r.auditRows} rows, audit_log_archive ${r.archiveRows}`,
      );
    }
    return 0;
  },
};

const cleanupReservationsCommand: Command = {
  name: 'cleanup-reservations',
  summary: 'mark RESERVED numbers past their expires_at EXPIRED (as the service\'s sweeper does), audited; deletes nothing',
  help: `  --dry-run           count them per counter; change nothing
Same rule as the service's expiry sweep: rows locked with FOR UPDATE SKIP LOCKED (a reservation the
service is confirming or sweeping at that moment is left to it), RESERVED -> EXPIRED by UPDATE, an
EXPIRE audit row per number. The numbers stay in the ledger: a number is never reused.`,
  options: { 'dry-run': { type: 'boolean', default: false } },
  async run(ctx, args) {
    noPositionals(args);
    const dryRun = args.values['dry-run'] === true;
    const r = await withNumberingDb(ctx, 'app', (conn) => expireReservations(conn, { dryRun }));
    if (r.total === 0) {
      ctx.io.out(`no reservations past their expires_at; nothing changed (${r.pending} still RESERVED and not yet due)`);
      return 0;
    }
    ctx.io.out(dryRun ? `dry run: ${plural(r.total, 'reservation')} past expires_at would be marked EXPIRED:` : `marked ${plural(r.total, 'expired reservation')} EXPIRED (audit action EXPIRE, actor ${OPS_ACTOR}; nothing deleted):`);
    for (const [key, n] of r.byCounter) ctx.io.out(`  ${key}: ${n}`);
    ctx.io.out(`${r.pending} still RESERVED and not yet due${dryRun ? '; nothing was changed' : ''}`);
    return 0;
  },
};

export const sequenceCommands: Command[] = [sequences, adjustMaxCommand, yearlyResetCommand, archiveAuditCommand, cleanupReservationsCommand];

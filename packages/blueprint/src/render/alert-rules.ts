import { stringify } from 'yaml';
import type { PlatformModel } from '../model.js';
import { JOB, METRIC } from './metrics.js';

/**
 * The numbering alert rules, each next to the `promtool test rules` cases that prove it: one input
 * where it fires (with the exact labels and annotations Prometheus renders) and one where it stays
 * quiet. Thresholds come from `monitoring.*` in the stack config, and so do the test inputs, so the
 * tests keep testing the rules whatever the thresholds are.
 */

export type Severity = 'critical' | 'warning' | 'info';

/** Runbooks under `monitoring.runbookBaseUrl`, one Markdown file each. */
export type Runbook =
  | 'high-sequence-utilization'
  | 'high-lock-wait'
  | 'redis-cluster-down'
  | 'postgres-failover'
  | 'canary-rollback'
  | 'service-down'
  | 'high-error-rate';

/** The rule file's name; prometheus.yml and the rule tests refer to it relative to their own directory. */
export const ALERT_RULES_FILE = 'rules.yml';

/** Below this canary error ratio a deviation from stable is noise (a handful of requests), not a regression. */
export const CANARY_MIN_ERROR_RATIO = 0.01;

/** Recording rules the canary alerts (and anyone comparing releases) read. */
export const RECORDED = {
  requestRate: 'release:http_requests:rate5m',
  errorRate: 'release:http_errors:rate5m',
  errorRatio: 'release:http_error_ratio:rate5m',
  durationP95: 'release:http_request_duration_seconds:p95_5m',
} as const;

export interface InputSeries {
  series: string;
  values: string;
}

/** An input and what Prometheus must make of it at `evalTime`. */
export interface FiringCase {
  what: string;
  series: InputSeries[];
  /** Labels of the alert besides `alertname` and the rule's own labels. */
  labels: Record<string, string>;
  /** `$value` at evaluation time, for the annotations. */
  value: number;
}

export interface QuietCase {
  what: string;
  series: InputSeries[];
}

export interface AlertDefinition {
  group: string;
  alert: string;
  expr: string;
  for: string;
  severity: Severity;
  runbook: Runbook;
  /** Go templates, as Prometheus expands them. */
  summary: string;
  description: string;
  fires: FiringCase[];
  quiet: QuietCase[];
}

export interface RecordingRule {
  group: string;
  record: string;
  expr: string;
}

/** Test inputs: one sample a minute, 21 samples (0m .. 20m); alerts are checked at 15m. */
export const TEST_INTERVAL = '1m';
export const TEST_EVAL_TIME = '15m';
const SAMPLES = 20;

const sel = (metric: string, labels: Record<string, string>) =>
  `${metric}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
/** A series that stays at `value`. */
const steady = (value: number) => `${value}x${SAMPLES}`;
/** A counter growing by `perMinute` each sample. */
const growing = (perMinute: number) => `0+${perMinute}x${SAMPLES}`;
/** `before` for the first `minutes` samples, then `after`. */
const stepAt = (minutes: number, before: number, after: number) => `${before}x${minutes - 1} ${after}x${SAMPLES - minutes}`;
const pct = (ratio: number) => `${+(ratio * 100).toFixed(4)}%`;

/** Histogram buckets around `threshold`, with `perMinute` observations landing in bucket `index`. */
function histogram(metric: string, labels: Record<string, string>, threshold: number, index: 0 | 1 | 2, perMinute = 60): InputSeries[] {
  const bounds = [threshold / 2, threshold, threshold * 2];
  const series = bounds.map((le, i) => ({ series: sel(`${metric}_bucket`, { ...labels, le: String(le) }), values: growing(i >= index ? perMinute : 0) }));
  series.push({ series: sel(`${metric}_bucket`, { ...labels, le: '+Inf' }), values: growing(perMinute) });
  series.push({ series: sel(`${metric}_count`, labels), values: growing(perMinute) });
  return series;
}
/** p95 that `histogram(…, index)` yields: linear interpolation inside the bucket. */
const histogramP95 = (threshold: number, index: 0 | 1 | 2) => {
  const lower = [0, threshold / 2, threshold][index]!;
  const upper = [threshold / 2, threshold, threshold * 2][index]!;
  return lower + (upper - lower) * 0.95;
};

export function recordingRules(_model: PlatformModel): RecordingRule[] {
  const http = (extra = '') => `${METRIC.httpDuration}_count{job="${JOB.numbering}"${extra}}`;
  const group = 'numbering-canary';
  return [
    { group, record: RECORDED.requestRate, expr: `sum by (release) (rate(${http()}[5m]))` },
    { group, record: RECORDED.errorRate, expr: `sum by (release) (rate(${http(',status_code=~"5.."')}[5m]))` },
    {
      group,
      record: RECORDED.errorRatio,
      // A release without a single 5xx has no error series at all; `or … * 0` gives it ratio 0, so
      // the canary can still be compared with an error-free stable release.
      expr: `${RECORDED.errorRate} / ${RECORDED.requestRate} or ${RECORDED.requestRate} * 0`,
    },
    {
      group,
      record: RECORDED.durationP95,
      expr: `histogram_quantile(0.95, sum by (release, le) (rate(${METRIC.httpDuration}_bucket{job="${JOB.numbering}"}[5m])))`,
    },
  ];
}

export function alertDefinitions(model: PlatformModel): AlertDefinition[] {
  const mon = model.monitoring.config;
  const job = { job: JOB.numbering };
  const svc = (release: 'stable' | 'canary', instance = `${release}-0:3000`) => ({ ...job, instance, release });
  const up = `up{job="${JOB.numbering}"}`;

  // --- sequences --------------------------------------------------------------------------------
  const warn = mon.sequenceWarningRatio;
  const crit = mon.sequenceCriticalRatio;
  const utilization = (value: number) =>
    (['stable', 'canary'] as const).map((r) => ({ series: sel(METRIC.sequenceUtilization, { ...svc(r), counter_key: 'INV-2025', template: 'invoice' }), values: steady(value) }));
  const between = (warn + crit) / 2;
  const aboveCrit = (crit + 1) / 2;
  const belowWarn = Math.max(warn - (crit - warn) / 2, warn / 2);
  const counterLabels = { counter_key: 'INV-2025', template: 'invoice' };
  const sequenceAlert = (alert: string, threshold: number, severity: Severity, forDuration: string, fireAt: number, quietAt: number): AlertDefinition => ({
    group: 'numbering-sequences',
    alert,
    // Every replica of both releases reports the same counter: take the highest reading once.
    expr: `max by (counter_key, template) (${METRIC.sequenceUtilization}{job="${JOB.numbering}"}) > ${threshold}`,
    for: forDuration,
    severity,
    runbook: 'high-sequence-utilization',
    summary: 'Sequence {{ $labels.counter_key }} is {{ $value | humanizePercentage }} used',
    description: `Counter {{ $labels.counter_key }} (template {{ $labels.template }}) has used {{ $value | humanizePercentage }} of its number range (${severity} above ${pct(threshold)}). Extend the range or prepare the next series before it runs out: an exhausted counter refuses to number documents.`,
    fires: [{ what: `utilization ${pct(fireAt)}`, series: utilization(fireAt), labels: counterLabels, value: fireAt }],
    quiet: [{ what: `utilization ${pct(quietAt)}`, series: utilization(quietAt) }],
  });

  // --- locks --------------------------------------------------------------------------------------
  const lockT = mon.lockWaitP95Seconds;
  const lockRatio = mon.lockFailureRatio;
  const lockFailures = (ratio: number) => [
    { series: sel(METRIC.numbersGenerated, { ...svc('stable'), type: 'invoice', outcome: 'issued' }), values: growing(100) },
    { series: sel(METRIC.lockFailures, { ...svc('stable'), reason: 'timeout' }), values: growing(100 * ratio) },
  ];

  // --- HTTP ---------------------------------------------------------------------------------------
  const E = mon.errorRatio;
  const httpCounts = (release: 'stable' | 'canary', errorRatio: number) => {
    const route = { method: 'POST', route: '/v1/numbers' };
    return [
      { series: sel(`${METRIC.httpDuration}_count`, { ...svc(release), ...route, status_code: '201' }), values: growing(100 * (1 - errorRatio)) },
      { series: sel(`${METRIC.httpDuration}_count`, { ...svc(release), ...route, status_code: '503' }), values: growing(100 * errorRatio) },
    ];
  };
  const errorFires = 2 * E < 1 ? 2 * E : (E + 1) / 2;

  // --- canary ---------------------------------------------------------------------------------------
  const dev = mon.canaryErrorDeviationPct / 100;
  const stableErrors = 0.02;
  const canaryErrorsFire = Math.min(1, Math.max(2 * CANARY_MIN_ERROR_RATIO, stableErrors * (1 + dev) * 2));
  const canaryErrorsQuiet = stableErrors * (1 + dev / 2);
  const latencyT = mon.canaryLatencyP95Ms / 1000;
  const latency = (release: 'stable' | 'canary', bucket: 0 | 1 | 2) => histogram(METRIC.httpDuration, { ...svc(release), method: 'GET', route: '/v1/numbers/:id', status_code: '200' }, latencyT, bucket);

  // --- PostgreSQL -----------------------------------------------------------------------------------
  const members = model.postgres.members.map((m) => ({ job: JOB.patroni, instance: `${m.host}:${m.restPort}`, member: m.name, scope: model.postgres.scope }));
  const ttl = model.postgres.config.ttl;

  // --- Redis ------------------------------------------------------------------------------------------
  const redisUp = (downIndex: number | undefined) =>
    model.redis.nodes.map((n, i) => ({ series: sel(METRIC.redisUp, { job: JOB.redisCluster, instance: `redis://${n.host}:${n.port}`, node: n.name }), values: i === downIndex ? stepAt(4, 1, 0) : steady(1) }));
  const fallback = (mode: 'off' | 'on') => [{ series: sel(METRIC.fallbackMode, svc('stable')), values: mode === 'on' ? stepAt(4, 0, 1) : steady(0) }];

  return [
    sequenceAlert('SequenceWarning', warn, 'warning', '5m', between, belowWarn),
    sequenceAlert('SequenceCritical', crit, 'critical', '2m', aboveCrit, between),
    {
      group: 'numbering-locks',
      alert: 'HighLockWaitTime',
      expr: `histogram_quantile(0.95, sum by (le) (rate(${METRIC.lockWait}_bucket{job="${JOB.numbering}"}[5m]))) > ${lockT}`,
      for: '5m',
      severity: 'warning',
      runbook: 'high-lock-wait',
      summary: 'Counter lock wait p95 is {{ $value | humanizeDuration }}',
      description: `95 % of requests waited up to {{ $value | humanizeDuration }} for a counter lock over the last 5 minutes (threshold ${lockT}s). Requests that wait longer than ${model.service.lockTimeoutMs} ms fail with 503.`,
      fires: [{ what: 'waits just above the threshold', series: histogram(METRIC.lockWait, svc('stable'), lockT, 2), labels: {}, value: histogramP95(lockT, 2) }],
      quiet: [{ what: 'waits just below the threshold', series: histogram(METRIC.lockWait, svc('stable'), lockT, 1) }],
    },
    {
      group: 'numbering-locks',
      alert: 'HighLockFailureRate',
      expr: `sum(rate(${METRIC.lockFailures}{job="${JOB.numbering}"}[5m])) / sum(rate(${METRIC.numbersGenerated}{job="${JOB.numbering}"}[5m])) > ${lockRatio}`,
      for: '5m',
      severity: 'warning',
      runbook: 'high-lock-wait',
      summary: 'Lock failures are {{ $value | humanizePercentage }} of numbers generated',
      description: `Over the last 5 minutes, requests that did not get the counter lock were {{ $value | humanizePercentage }} of the numbers generated (threshold ${pct(lockRatio)}). Callers see 503 and retry.`,
      fires: [{ what: `failures at ${pct(2 * lockRatio)}`, series: lockFailures(2 * lockRatio), labels: {}, value: 2 * lockRatio }],
      quiet: [{ what: `failures at ${pct(lockRatio / 2)}`, series: lockFailures(lockRatio / 2) }],
    },
    {
      group: 'numbering-service',
      alert: 'RedisUnavailable',
      expr: `max(${METRIC.fallbackMode}{job="${JOB.numbering}"}) == 1 or count(${METRIC.redisUp}{job="${JOB.redisCluster}"} == 0) > 0`,
      for: '1m',
      severity: 'critical',
      runbook: 'redis-cluster-down',
      summary: 'Redis is unavailable to the numbering service',
      description:
        'The numbering service runs in DB-only fallback mode, or at least one Redis Cluster node has not answered the exporter for 1 minute. Numbering still works in fallback mode, but every request takes the MariaDB row lock.',
      fires: [
        { what: 'the service switched to fallback mode', series: [...fallback('on'), ...redisUp(undefined)], labels: {}, value: 1 },
        { what: 'a Redis node is down', series: [...fallback('off'), ...redisUp(0)], labels: {}, value: 1 },
      ],
      quiet: [{ what: 'no fallback, every node up', series: [...fallback('off'), ...redisUp(undefined)] }],
    },
    {
      group: 'numbering-service',
      alert: 'ServiceDown',
      expr: `${up} == 0`,
      for: '1m',
      severity: 'critical',
      runbook: 'service-down',
      summary: 'Numbering {{ $labels.release }} instance {{ $labels.instance }} is down',
      description: 'Prometheus has not been able to scrape {{ $labels.instance }} (release {{ $labels.release }}) for 1 minute.',
      fires: [{ what: 'scrapes fail', series: [{ series: sel('up', svc('stable')), values: stepAt(4, 1, 0) }], labels: svc('stable'), value: 0 }],
      quiet: [{ what: 'scrapes succeed', series: [{ series: sel('up', svc('stable')), values: steady(1) }] }],
    },
    {
      group: 'numbering-service',
      alert: 'HighErrorRate',
      expr: `sum(rate(${METRIC.httpDuration}_count{job="${JOB.numbering}",status_code=~"5.."}[5m])) / sum(rate(${METRIC.httpDuration}_count{job="${JOB.numbering}"}[5m])) > ${E}`,
      for: '5m',
      severity: 'critical',
      runbook: 'high-error-rate',
      summary: '{{ $value | humanizePercentage }} of numbering requests fail with 5xx',
      description: `{{ $value | humanizePercentage }} of all requests (both releases) were answered with a 5xx status over the last 5 minutes (threshold ${pct(E)}).`,
      fires: [{ what: `errors at ${pct(errorFires)}`, series: httpCounts('stable', errorFires), labels: {}, value: errorFires }],
      quiet: [{ what: `errors at ${pct(E / 2)}`, series: httpCounts('stable', E / 2) }],
    },
    {
      group: 'numbering-canary',
      alert: 'CanaryHighErrorRate',
      expr: [
        // group_left keeps the `release` label that ignoring() would drop from a one-to-one match.
        `${RECORDED.errorRatio}{release="canary"} > ignoring(release) group_left ${1 + dev} * ${RECORDED.errorRatio}{release="stable"}`,
        `and ${RECORDED.errorRatio}{release="canary"} > ${CANARY_MIN_ERROR_RATIO}`,
      ].join('\n'),
      for: '2m',
      severity: 'warning',
      runbook: 'canary-rollback',
      summary: 'Canary error ratio {{ $value | humanizePercentage }} is above stable',
      description: `The canary answered {{ $value | humanizePercentage }} of its requests with 5xx over the last 5 minutes, more than ${mon.canaryErrorDeviationPct} % above the stable release's ratio. Roll the canary back (canary.weight 0).`,
      fires: [
        {
          what: `canary ${pct(canaryErrorsFire)} vs stable ${pct(stableErrors)}`,
          series: [...httpCounts('stable', stableErrors), ...httpCounts('canary', canaryErrorsFire)],
          labels: { release: 'canary' },
          value: canaryErrorsFire,
        },
        {
          what: `canary ${pct(canaryErrorsFire)} vs a stable release without errors`,
          series: [{ series: sel(`${METRIC.httpDuration}_count`, { ...svc('stable'), method: 'POST', route: '/v1/numbers', status_code: '201' }), values: growing(100) }, ...httpCounts('canary', canaryErrorsFire)],
          labels: { release: 'canary' },
          value: canaryErrorsFire,
        },
      ],
      quiet: [{ what: `canary ${pct(canaryErrorsQuiet)} vs stable ${pct(stableErrors)}`, series: [...httpCounts('stable', stableErrors), ...httpCounts('canary', canaryErrorsQuiet)] }],
    },
    {
      group: 'numbering-canary',
      alert: 'CanaryHighLatency',
      // Slow, and slower than stable: when both releases are slow the cause is not the canary.
      expr: [
        `${RECORDED.durationP95}{release="canary"} * 1000 > ${mon.canaryLatencyP95Ms}`,
        `unless ${RECORDED.durationP95}{release="canary"} <= ignoring(release) group_left ${RECORDED.durationP95}{release="stable"}`,
      ].join('\n'),
      for: '2m',
      severity: 'warning',
      runbook: 'canary-rollback',
      summary: 'Canary p95 latency is {{ $value | printf "%.0f" }} ms',
      description: `The canary's p95 request duration over the last 5 minutes is {{ $value | printf "%.0f" }} ms, above ${mon.canaryLatencyP95Ms} ms and above the stable release's. Roll the canary back (canary.weight 0).`,
      fires: [{ what: 'canary slow, stable fast', series: [...latency('stable', 0), ...latency('canary', 2)], labels: { release: 'canary' }, value: histogramP95(latencyT, 2) * 1000 }],
      quiet: [
        { what: 'canary just under the threshold', series: [...latency('stable', 0), ...latency('canary', 1)] },
        { what: 'canary slow, but stable just as slow', series: [...latency('stable', 2), ...latency('canary', 2)] },
      ],
    },
    {
      group: 'numbering-postgres',
      alert: 'PostgresFailover',
      expr: `max by (scope) (changes(${METRIC.patroniTimeline}{job="${JOB.patroni}"}[5m])) > 0`,
      for: '0m',
      severity: 'warning',
      runbook: 'postgres-failover',
      summary: 'PostgreSQL cluster {{ $labels.scope }} failed over',
      description: `The PostgreSQL timeline changed in the last 5 minutes: Patroni promoted a new primary. Writes paused for about ${ttl + 1} s (leader TTL ${ttl} s). Find out why the old primary was lost and check that it rejoined as a replica.`,
      fires: [{ what: 'the timeline moved from 1 to 2', series: members.map((m) => ({ series: sel(METRIC.patroniTimeline, m), values: stepAt(13, 1, 2) })), labels: { scope: model.postgres.scope }, value: 1 }],
      quiet: [{ what: 'the timeline stays', series: members.map((m) => ({ series: sel(METRIC.patroniTimeline, m), values: steady(1) })) }],
    },
    {
      group: 'numbering-postgres',
      alert: 'PostgresNoPrimary',
      // count() of nothing is nothing, so "no primary at all" needs absent().
      expr: `count(${METRIC.patroniPrimary}{job="${JOB.patroni}"} == 1) != 1 or absent(${METRIC.patroniPrimary}{job="${JOB.patroni}"} == 1)`,
      for: '1m',
      severity: 'critical',
      runbook: 'postgres-failover',
      summary: 'PostgreSQL cluster does not have exactly one primary',
      description: `Patroni members have not agreed on exactly one primary for 1 minute (a normal failover takes about ${ttl + 1} s): with none, writes fail; with more than one, writes may split.`,
      fires: [
        { what: 'the primary lost its role', series: members.map((m, i) => ({ series: sel(METRIC.patroniPrimary, m), values: i === 0 ? stepAt(4, 1, 0) : steady(0) })), labels: {}, value: 1 },
        { what: 'two members claim the primary role', series: members.map((m, i) => ({ series: sel(METRIC.patroniPrimary, m), values: i < 2 ? steady(1) : steady(0) })), labels: {}, value: 2 },
      ],
      quiet: [{ what: 'exactly one primary', series: members.map((m, i) => ({ series: sel(METRIC.patroniPrimary, m), values: steady(i === 0 ? 1 : 0) })) }],
    },
  ];
}

export const runbookUrl = (model: PlatformModel, runbook: Runbook) => `${model.monitoring.config.runbookBaseUrl.replace(/\/+$/, '')}/${runbook}.md`;

const annotationsOf = (model: PlatformModel, a: AlertDefinition) => ({ summary: a.summary, description: a.description, runbook_url: runbookUrl(model, a.runbook) });

/** rules.yml: the numbering alert rules. */
export function renderAlertRules(model: PlatformModel): string {
  const groups = new Map<string, Record<string, unknown>[]>();
  const alerts = alertDefinitions(model);
  for (const group of new Set(alerts.map((a) => a.group))) groups.set(group, []);
  // Rules of a group run in order, so recorded series are fresh when the alerts after them read them.
  for (const r of recordingRules(model)) (groups.get(r.group) ?? groups.set(r.group, []).get(r.group)!).push({ record: r.record, expr: r.expr });
  for (const a of alerts) {
    groups.get(a.group)!.push({ alert: a.alert, expr: a.expr, for: a.for, labels: { severity: a.severity }, annotations: annotationsOf(model, a) });
  }
  const header = '# Rendered by @numbering/blueprint from monitoring.* in the stack config. Tested by rules.test.yml (promtool test rules).\n';
  return header + stringify({ groups: [...groups].map(([name, rules]) => ({ name, rules })) }, { lineWidth: 0 });
}

/** rules.test.yml for `promtool test rules`: each alert fires and does not fire. */
export function renderAlertRuleTests(model: PlatformModel): string {
  const tests: Record<string, unknown>[] = [];
  for (const a of alertDefinitions(model)) {
    const annotations = annotationsOf(model, a);
    for (const c of a.fires) {
      const labels = { ...c.labels, severity: a.severity };
      tests.push({
        name: `${a.alert} fires: ${c.what}`,
        interval: TEST_INTERVAL,
        input_series: c.series,
        alert_rule_test: [
          {
            eval_time: TEST_EVAL_TIME,
            alertname: a.alert,
            exp_alerts: [{ exp_labels: labels, exp_annotations: Object.fromEntries(Object.entries(annotations).map(([k, v]) => [k, expandTemplate(v, labels, c.value)])) }],
          },
        ],
      });
    }
    for (const c of a.quiet) {
      tests.push({
        name: `${a.alert} stays quiet: ${c.what}`,
        interval: TEST_INTERVAL,
        input_series: c.series,
        alert_rule_test: [{ eval_time: TEST_EVAL_TIME, alertname: a.alert, exp_alerts: [] }],
      });
    }
  }
  // The error-ratio recording rule must give an error-free release 0, not nothing.
  const [stable] = model.service.releases;
  tests.push({
    name: `${RECORDED.errorRatio} is 0 for a release without errors`,
    interval: TEST_INTERVAL,
    input_series: [{ series: sel(`${METRIC.httpDuration}_count`, { job: JOB.numbering, instance: 'stable-0:3000', release: stable.release, status_code: '200' }), values: growing(60) }],
    promql_expr_test: [{ expr: RECORDED.errorRatio, eval_time: TEST_EVAL_TIME, exp_samples: [{ labels: `${RECORDED.errorRatio}{release="${stable.release}"}`, value: 0 }] }],
  });
  const header = '# Rendered by @numbering/blueprint: run `promtool test rules rules.test.yml` beside rules.yml.\n';
  return header + stringify({ rule_files: [ALERT_RULES_FILE], evaluation_interval: TEST_INTERVAL, tests }, { lineWidth: 0 });
}

// --- the slice of Prometheus' template language the annotations use ------------------------------------

/** Go's `%.4g`: 4 significant digits, no trailing zeros (exponent form is never needed for these values). */
const g4 = (v: number) => String(Number(v.toPrecision(4)));

/** Prometheus' `humanizeDuration` (template_funcs.go) for finite values. */
export function humanizeDuration(v: number): string {
  if (v === 0) return '0s';
  if (Math.abs(v) >= 1) {
    const sign = v < 0 ? '-' : '';
    const abs = Math.abs(v);
    const whole = Math.trunc(abs);
    const [s, m, h, d] = [whole % 60, Math.trunc(whole / 60) % 60, Math.trunc(whole / 3600) % 24, Math.trunc(whole / 86_400)];
    if (d) return `${sign}${d}d ${h}h ${m}m ${s}s`;
    if (h) return `${sign}${h}h ${m}m ${s}s`;
    if (m) return `${sign}${m}m ${s}s`;
    return `${sign}${g4(abs)}s`;
  }
  let prefix = '';
  for (const p of ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y']) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return `${g4(v)}${prefix}s`;
}

/** Expands `{{ $labels.x }}`, `{{ $value | humanizePercentage }}`, `… | humanizeDuration`, `… | printf "%.0f"`. */
export function expandTemplate(text: string, labels: Record<string, string>, value: number): string {
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (whole, inner: string) => {
    const label = /^\$labels\.(\w+)$/.exec(inner);
    if (label) return labels[label[1]!] ?? '';
    if (inner === '$value | humanizePercentage') return `${g4(value * 100)}%`;
    if (inner === '$value | humanizeDuration') return humanizeDuration(value);
    if (inner === '$value | printf "%.0f"') return value.toFixed(0);
    throw new Error(`annotation template ${whole} is not supported by expandTemplate; extend it or use one that is`);
  });
}

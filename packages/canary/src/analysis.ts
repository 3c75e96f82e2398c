import type { PlatformConfig } from '@numbering/blueprint';

/**
 * Canary analysis as pure functions: per-release metrics in, a verdict out. No I/O here, so the rules
 * can be tested exhaustively and the same verdict is reached from Prometheus, from a test or from a
 * replayed incident.
 */

export type Release = 'stable' | 'canary';

/** What one release did during the analysis window. */
export interface ReleaseMetrics {
  /** Requests answered in the window (Prometheus `increase()`, so possibly fractional). */
  requests: number;
  /** Of those, answers with a 5xx status. */
  errors: number;
  /** errors / requests; null when there were no requests. */
  errorRate: number | null;
  /** 95th percentile latency in ms from the histogram; null when there were no requests. */
  p95Ms: number | null;
}

export interface Thresholds {
  /**
   * The canary's error rate may exceed the stable one by at most this percentage of the stable rate
   * (`monitoring.canaryErrorDeviationPct`; 50 means stable 2 % allows canary up to 3 %).
   */
  maxErrorDeviationPct: number;
  /**
   * An absolute error rate (percent) the canary may always reach, whatever stable does: without it,
   * stable 0 % against canary 0.1 % (one error in a thousand) would be an infinite deviation.
   */
  errorRateFloorPct: number;
  /** Most 5xx answers the canary may give in the window, however many requests it served. */
  maxCanaryErrors: number;
  /** Highest canary p95 latency in ms (`monitoring.canaryLatencyP95Ms`). */
  maxP95Ms: number;
  /** Fewer canary requests than this in the window means there is nothing to judge: inconclusive. */
  minCanaryRequests: number;
}

/** Defaults for the thresholds that are not stack config (CLI options override them). */
export const DEFAULT_ERROR_RATE_FLOOR_PCT = 1;
export const DEFAULT_MAX_CANARY_ERRORS = 10;
export const DEFAULT_MIN_CANARY_REQUESTS = 20;

/** Thresholds from the stack config's monitoring section, with the CLI-only ones at their defaults. */
export function thresholdsFromConfig(monitoring: PlatformConfig['monitoring'], overrides: Partial<Thresholds> = {}): Thresholds {
  const thresholds: Thresholds = {
    maxErrorDeviationPct: monitoring.canaryErrorDeviationPct,
    errorRateFloorPct: DEFAULT_ERROR_RATE_FLOOR_PCT,
    maxCanaryErrors: DEFAULT_MAX_CANARY_ERRORS,
    maxP95Ms: monitoring.canaryLatencyP95Ms,
    minCanaryRequests: DEFAULT_MIN_CANARY_REQUESTS,
  };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (thresholds as unknown as Record<string, number>)[k] = v;
  checkThresholds(thresholds);
  return thresholds;
}

export function checkThresholds(t: Thresholds): void {
  for (const [key, value] of Object.entries(t)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`threshold ${key} must be a number >= 0, got ${JSON.stringify(value)}`);
  }
}

export interface Check {
  name: 'canary 5xx count' | 'canary request count' | 'error rate deviation' | 'canary p95 latency';
  ok: boolean;
  message: string;
}

export type VerdictResult = 'pass' | 'fail' | 'inconclusive';

export interface Verdict {
  result: VerdictResult;
  /** Why the verdict is what it is: the failed checks for `fail`, the missing data for `inconclusive`, every check for `pass`. */
  reasons: string[];
  /** Every check that was evaluated, passed or not. */
  checks: Check[];
  stable: ReleaseMetrics;
  canary: ReleaseMetrics;
}

export const metricsFrom = (requests: number, errors: number, p95Ms: number | null): ReleaseMetrics => ({
  requests,
  errors,
  errorRate: requests > 0 ? errors / requests : null,
  p95Ms: requests > 0 ? p95Ms : null,
});

const pct = (ratio: number) => `${(ratio * 100).toFixed(2)} %`;
const count = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/**
 * The error rate the canary may reach: the stable rate plus the allowed relative deviation, but never
 * below the absolute floor. When stable served too little to be a baseline (at weight 100 it serves
 * nothing), only the floor applies.
 */
export function allowedCanaryErrorRate(stable: ReleaseMetrics, t: Thresholds): { limit: number; basis: string } {
  const floor = t.errorRateFloorPct / 100;
  if (stable.errorRate === null || stable.requests < t.minCanaryRequests) {
    return { limit: floor, basis: `floor ${pct(floor)}; stable served only ${count(stable.requests)} requests, too few for a baseline` };
  }
  const relative = stable.errorRate * (1 + t.maxErrorDeviationPct / 100);
  return relative >= floor
    ? { limit: relative, basis: `stable ${pct(stable.errorRate)} + ${t.maxErrorDeviationPct} %` }
    : { limit: floor, basis: `floor ${pct(floor)}; stable ${pct(stable.errorRate)} + ${t.maxErrorDeviationPct} % is lower` };
}

/**
 * The verdict, in this order:
 * 1. more canary 5xx than `maxCanaryErrors` fails at once, even on little traffic (a canary that
 *    answers every request with 500 must not hide behind "too few requests");
 * 2. fewer canary requests than `minCanaryRequests` is inconclusive, never a pass: Flagger's most
 *    reported problem is "no values found", an analysis with no traffic to look at;
 * 3. otherwise every check must pass: error count, error rate against stable, p95 latency.
 */
export function evaluateCanary(stable: ReleaseMetrics, canary: ReleaseMetrics, t: Thresholds): Verdict {
  checkThresholds(t);
  const checks: Check[] = [];
  const verdict = (result: VerdictResult, reasons: string[]): Verdict => ({ result, reasons, checks, stable, canary });

  const errorCountOk = canary.errors <= t.maxCanaryErrors;
  checks.push({
    name: 'canary 5xx count',
    ok: errorCountOk,
    message: `canary answered ${count(canary.errors)} requests with 5xx (max ${t.maxCanaryErrors})`,
  });
  if (!errorCountOk) return verdict('fail', [checks[0]!.message]);

  if (canary.requests < t.minCanaryRequests || canary.errorRate === null) {
    const message =
      `no values to judge: the canary served only ${count(canary.requests)} requests in the window (need at least ${t.minCanaryRequests}). ` +
      (stable.requests < t.minCanaryRequests
        ? 'Neither release has traffic in Prometheus: is Prometheus scraping the service (job "numbering", /targets), and is anything sending requests?'
        : 'Stable has traffic but the canary too little: is canary.weight above 0, is the canary up, and is there enough load for this weight?');
    checks.push({ name: 'canary request count', ok: false, message });
    return verdict('inconclusive', [message]);
  }
  checks.push({ name: 'canary request count', ok: true, message: `canary served ${count(canary.requests)} requests (min ${t.minCanaryRequests})` });

  const { limit, basis } = allowedCanaryErrorRate(stable, t);
  checks.push({
    name: 'error rate deviation',
    ok: canary.errorRate <= limit,
    message: `canary error rate ${pct(canary.errorRate)} ${canary.errorRate <= limit ? '<=' : '>'} allowed ${pct(limit)} (${basis})`,
  });

  if (canary.p95Ms === null || !Number.isFinite(canary.p95Ms)) {
    const message = `no values to judge: the canary has ${count(canary.requests)} requests but no latency histogram samples (p95 unknown)`;
    checks.push({ name: 'canary p95 latency', ok: false, message });
    return verdict('inconclusive', [message]);
  }
  const stableP95 = stable.p95Ms === null ? '' : ` (stable ${stable.p95Ms.toFixed(0)} ms)`;
  checks.push({
    name: 'canary p95 latency',
    ok: canary.p95Ms <= t.maxP95Ms,
    message: `canary p95 ${canary.p95Ms.toFixed(0)} ms ${canary.p95Ms <= t.maxP95Ms ? '<=' : '>'} max ${t.maxP95Ms} ms${stableP95}`,
  });

  const failed = checks.filter((c) => !c.ok);
  return failed.length ? verdict('fail', failed.map((c) => c.message)) : verdict('pass', checks.map((c) => c.message));
}

/** One line per check, for humans and logs. */
export function formatVerdict(v: Verdict): string {
  const head = `${v.result.toUpperCase()}: stable ${count(v.stable.requests)} req / ${count(v.stable.errors)} 5xx, canary ${count(v.canary.requests)} req / ${count(v.canary.errors)} 5xx`;
  return [head, ...v.checks.map((c) => `  ${c.ok ? 'ok  ' : v.result === 'inconclusive' ? '??  ' : 'FAIL'} ${c.name}: ${c.message}`)].join('\n');
}

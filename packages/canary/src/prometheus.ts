import { evaluateCanary, metricsFrom, type Release, type ReleaseMetrics, type Thresholds, type Verdict } from './analysis.js';

/**
 * A small client for Prometheus' HTTP API (instant queries only) and the PromQL of the canary
 * analysis. The service exports one histogram, `http_request_duration_seconds{method,route,
 * status_code,release}`, and Prometheus scrapes it as job `numbering`; request counts, 5xx counts and
 * the p95 all come from that one histogram, so the three numbers always describe the same requests.
 */

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

interface QueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export class PrometheusClient {
  constructor(
    readonly baseUrl: string,
    private readonly opts: { timeoutMs?: number } = {},
  ) {}

  /** Evaluates `promql` now (or at `time`, unix seconds) and returns the instant vector; scalars are not supported. */
  async query(promql: string, time?: number): Promise<Sample[]> {
    const url = new URL('/api/v1/query', this.baseUrl);
    const body = new URLSearchParams({ query: promql, ...(time === undefined ? {} : { time: String(time) }) });
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new Error(`cannot reach Prometheus at ${this.baseUrl} (${cause}): is it running, and is this the right address (--prometheus)?`);
    }
    const text = await res.text();
    let parsed: QueryResponse;
    try {
      parsed = JSON.parse(text) as QueryResponse;
    } catch {
      throw new Error(`Prometheus at ${this.baseUrl} answered HTTP ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
    if (parsed.status !== 'success' || !parsed.data) {
      throw new Error(`Prometheus query failed (${parsed.errorType ?? `HTTP ${res.status}`}): ${parsed.error ?? text.slice(0, 200)}\n  query: ${promql}`);
    }
    if (parsed.data.resultType !== 'vector') throw new Error(`expected an instant vector from ${promql}, got ${parsed.data.resultType}`);
    return parsed.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }
}

export interface QueryOptions {
  /** Range of every rate/increase, a Prometheus duration (`1m`, `30s`). Keep it at least 4 scrape intervals. */
  window?: string;
  /** Prometheus job of the service. */
  job?: string;
  /**
   * Routes left out of the analysis, as a regex on the `route` label. Health probes and scrapes hit
   * both releases at a fixed rate whatever the weight; counting them would dilute the canary's error
   * rate and make "too few requests" never trigger.
   */
  excludeRoutes?: string;
  /** Extra label matchers, e.g. `namespace="numbering"`. */
  extraMatchers?: string[];
}

export const DEFAULT_WINDOW = '1m';
export const DEFAULT_JOB = 'numbering';
export const DEFAULT_EXCLUDED_ROUTES = '/metrics|/health.*';
const METRIC = 'http_request_duration_seconds';

export function checkWindow(window: string): string {
  if (!/^[1-9][0-9]*(ms|s|m|h)$/.test(window)) throw new Error(`window must be a Prometheus duration like 30s, 1m or 5m, got ${JSON.stringify(window)}`);
  return window;
}

const quote = (s: string) => JSON.stringify(s);

/** The three queries of an analysis; each returns one series per `release`. */
export function canaryQueries(opts: QueryOptions = {}): { requests: string; errors: string; p95: string } {
  const window = checkWindow(opts.window ?? DEFAULT_WINDOW);
  const matchers = [`job=${quote(opts.job ?? DEFAULT_JOB)}`];
  const excluded = opts.excludeRoutes ?? DEFAULT_EXCLUDED_ROUTES;
  if (excluded) matchers.push(`route!~${quote(excluded)}`);
  matchers.push(...(opts.extraMatchers ?? []));
  const sel = matchers.join(',');
  return {
    requests: `sum by (release) (increase(${METRIC}_count{${sel}}[${window}]))`,
    errors: `sum by (release) (increase(${METRIC}_count{${sel},status_code=~"5.."}[${window}]))`,
    p95: `histogram_quantile(0.95, sum by (release, le) (rate(${METRIC}_bucket{${sel}}[${window}])))`,
  };
}

export interface CanaryMetrics {
  stable: ReleaseMetrics;
  canary: ReleaseMetrics;
  window: string;
  queries: ReturnType<typeof canaryQueries>;
}

const byRelease = (samples: Sample[], release: Release): number | undefined => samples.find((s) => s.metric.release === release)?.value;
const finite = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

/** Per-release request count, 5xx count, error rate and p95 (ms) over the window. A release with no series has 0 requests. */
export async function fetchCanaryMetrics(client: PrometheusClient, opts: QueryOptions = {}): Promise<CanaryMetrics> {
  const queries = canaryQueries(opts);
  const [requests, errors, p95] = await Promise.all([client.query(queries.requests), client.query(queries.errors), client.query(queries.p95)]);
  const release = (r: Release): ReleaseMetrics => {
    const seconds = finite(byRelease(p95, r));
    return metricsFrom(finite(byRelease(requests, r)) ?? 0, finite(byRelease(errors, r)) ?? 0, seconds === null ? null : seconds * 1000);
  };
  return { stable: release('stable'), canary: release('canary'), window: opts.window ?? DEFAULT_WINDOW, queries };
}

/** Queries Prometheus and judges the canary: what `canary analyze` and each step of `canary run` do. */
export async function analyzeCanary(client: PrometheusClient, thresholds: Thresholds, opts: QueryOptions = {}): Promise<Verdict & { window: string }> {
  const m = await fetchCanaryMetrics(client, opts);
  return { ...evaluateCanary(m.stable, m.canary, thresholds), window: m.window };
}

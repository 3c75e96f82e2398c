import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestbed, startDaemon, waitFor, type DaemonProcess, type Testbed } from '@numbering/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Thresholds } from '../src/analysis.js';
import { defaultPlatformConfig } from '@numbering/blueprint';
import { main } from '../src/main.js';
import type { WeightTarget } from '../src/targets/types.js';
import { analyzeCanary, canaryQueries, fetchCanaryMetrics, PrometheusClient } from '../src/prometheus.js';

/**
 * The analysis queries against a real Prometheus (Debian's 2.42 binary) scraping, every second, a
 * stand-in for the service's /metrics with both releases' `http_request_duration_seconds` histograms.
 * Every scrape adds one batch of observations, so the expected error rates and p95 are known exactly:
 *
 *   stable, per scrape: 100 × /v1/numbers: 90 at 20 ms, 9 at 80 ms (200), 1 at 80 ms (500)
 *     -> error rate 1 %; p95 = rank 95 of 100 in bucket (50, 100] ms holding 10 -> 50 + 0.5 × 50 = 75 ms
 *   canary, per scrape: 20 × /v1/numbers: 10 at 20 ms, 6 at 400 ms (200), 4 at 400 ms (500)
 *     -> error rate 20 %; p95 = rank 19 of 20 in bucket (250, 500] ms holding 10 -> 250 + 0.9 × 250 = 475 ms
 *   canary also answers 50 × /health/ready at 1 ms per scrape: health probes the analysis must leave out.
 */

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  labels: Record<string, string>;
  counts: number[]; // per bucket, not cumulative
  count: number;
  sum: number;
}

class FakeServiceMetrics {
  private series = new Map<string, Series>();
  scrapes = 0;

  observe(labels: Record<string, string>, seconds: number, times: number) {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: BUCKETS.map(() => 0), count: 0, sum: 0 }));
    const i = BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) s.counts[i]! += times;
    s.count += times;
    s.sum += seconds * times;
  }

  batch() {
    this.scrapes++;
    const req = (release: string, route: string, status: number) => ({ method: 'POST', route, status_code: String(status), release });
    this.observe(req('stable', '/v1/numbers', 200), 0.02, 90);
    this.observe(req('stable', '/v1/numbers', 200), 0.08, 9);
    this.observe(req('stable', '/v1/numbers', 500), 0.08, 1);
    this.observe(req('canary', '/v1/numbers', 200), 0.02, 10);
    this.observe(req('canary', '/v1/numbers', 200), 0.4, 6);
    this.observe(req('canary', '/v1/numbers', 500), 0.4, 4);
    this.observe({ method: 'GET', route: '/health/ready', status_code: '200', release: 'canary' }, 0.001, 50);
  }

  render(): string {
    const name = 'http_request_duration_seconds';
    const lines = [`# HELP ${name} request duration`, `# TYPE ${name} histogram`];
    const fmt = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
    for (const s of this.series.values()) {
      let cumulative = 0;
      BUCKETS.forEach((b, i) => {
        cumulative += s.counts[i]!;
        lines.push(`${name}_bucket{${fmt({ ...s.labels, le: String(b) })}} ${cumulative}`);
      });
      lines.push(`${name}_bucket{${fmt({ ...s.labels, le: '+Inf' })}} ${s.count}`);
      lines.push(`${name}_sum{${fmt(s.labels)}} ${s.sum}`, `${name}_count{${fmt(s.labels)}} ${s.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

const thresholds: Thresholds = { maxErrorDeviationPct: 50, errorRateFloorPct: 1, maxCanaryErrors: 1000, maxP95Ms: 500, minCanaryRequests: 20 };
/** `analyze` reads thresholds from the target's stack config: the defaults (deviation 50 %, p95 500 ms). */
const fixedTarget: WeightTarget = {
  name: 'fixed',
  getWeight: async () => 30,
  setWeight: async () => undefined,
  promote: async () => undefined,
  rollback: async () => undefined,
  platformConfig: async () => defaultPlatformConfig('local'),
};
// Ten one-second scrapes per window: short enough for a test, long enough for rate().
const window = '10s';

let bed: Testbed;
let prometheus: DaemonProcess | undefined;
let service: Server | undefined;
let client: PrometheusClient;
const metrics = new FakeServiceMetrics();

beforeAll(async () => {
  bed = await createTestbed();
  const servicePort = bed.model.service.releases[0].port;
  const prom = bed.model.monitoring.prometheus;
  service = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    metrics.batch();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
  });
  await new Promise<void>((r) => service!.listen(servicePort, '127.0.0.1', r));

  const dir = join(bed.workdir, 'prometheus');
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: numbering',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${servicePort}']`,
      '',
    ].join('\n'),
  );
  prometheus = startDaemon({
    name: 'prometheus',
    command: 'prometheus',
    args: [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${prom.host}:${prom.port}`],
    logFile: join(dir, 'prometheus.log'),
  });
  client = new PrometheusClient(`http://${prom.host}:${prom.port}`);
  // Enough samples for a full window plus one (rate() needs two samples, and the window must be covered).
  await waitFor(
    '12 scrapes of the fake service',
    async () => ((await client.query('count_over_time(up{job="numbering"}[30s])'))[0]?.value ?? 0) >= 12,
    { timeoutMs: 60_000, intervalMs: 500, logFile: prometheus.logFile },
  );
});

afterAll(async () => {
  await prometheus?.stop('SIGTERM', 10_000);
  await new Promise((r) => (service ? service.close(r) : r(undefined)));
  bed?.dispose();
});

describe('canary queries against a real Prometheus', () => {
  it('return each release\'s error rate and p95 from the histogram, without health probes', async () => {
    const m = await fetchCanaryMetrics(client, { window });
    expect(m.stable.errorRate).toBeCloseTo(0.01, 6);
    expect(m.canary.errorRate).toBeCloseTo(0.2, 6);
    expect(m.stable.p95Ms).toBeCloseTo(75, 3);
    expect(m.canary.p95Ms).toBeCloseTo(475, 3);
    // ~10 scrapes in a 10 s window, extrapolated by increase(): 100 resp. 20 requests per scrape
    expect(m.stable.requests / m.canary.requests).toBeCloseTo(5, 6);
    expect(m.canary.requests).toBeGreaterThan(20 * 7);
    expect(m.canary.requests).toBeLessThan(20 * 14);
    expect(m.canary.errors / m.canary.requests).toBeCloseTo(0.2, 6);
  });

  it('count health probes when told to keep every route, which dilutes the canary', async () => {
    const m = await fetchCanaryMetrics(client, { window, excludeRoutes: '' });
    // 4 errors in 70 requests per scrape; p95 = rank 66.5 of 70: 60 below (250, 500] ms holding 10
    expect(m.canary.errorRate).toBeCloseTo(4 / 70, 6);
    expect(m.canary.p95Ms).toBeCloseTo(250 + 0.65 * 250, 3);
    expect(m.stable.errorRate).toBeCloseTo(0.01, 6);
  });

  it('judge this canary a failure on its error rate, not on p95 (475 <= 500 ms)', async () => {
    const v = await analyzeCanary(client, thresholds, { window });
    expect(v.result).toBe('fail');
    expect(v.reasons).toEqual([expect.stringMatching(/^canary error rate 20\.00 % > allowed 1\.50 % \(stable 1\.00 % \+ 50 %\)$/)]);
    expect(v.checks.find((c) => c.name === 'canary p95 latency')?.ok).toBe(true);
    const slower = await analyzeCanary(client, { ...thresholds, maxP95Ms: 400, maxErrorDeviationPct: 5000 }, { window });
    expect(slower.result).toBe('fail');
    expect(slower.reasons).toEqual([expect.stringMatching(/^canary p95 475 ms > max 400 ms \(stable 75 ms\)$/)]);
    const lenient = await analyzeCanary(client, { ...thresholds, maxErrorDeviationPct: 5000 }, { window });
    expect(lenient.result).toBe('pass');
  });

  it('are inconclusive when Prometheus has no series for the job (wrong job / not scraped)', async () => {
    const v = await analyzeCanary(client, thresholds, { window, job: 'not-scraped' });
    expect(v.result).toBe('inconclusive');
    expect(v.canary.requests).toBe(0);
    expect(v.reasons[0]).toMatch(/no values to judge.*Neither release has traffic/);
  });

  it('report a query Prometheus rejects with its error and the query', async () => {
    await expect(fetchCanaryMetrics(client, { window, excludeRoutes: '(' })).rejects.toThrow(/Prometheus query failed \(bad_data\): .*error parsing regexp.*\n\s+query: .*route!~"\("/);
  });

  it('drive `canary analyze`: exit 1 with the failed check, exit 0 when the thresholds allow it', async () => {
    const run = async (...extra: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const targetFor = () => ({ ...fixedTarget });
      const code = await main(['analyze', '--prometheus', client.baseUrl, '--window', window, ...extra], { out: (l) => out.push(l), err: (l) => err.push(l), targetFor });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    const failed = await run();
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/^FAIL: stable \d+(\.\d)? req/);
    // the CLI's default --max-errors 10 trips first: ~4 canary 5xx per scrape, ~10 scrapes in the window
    expect(failed.out).toMatch(/FAIL canary 5xx count: canary answered \d+(\.\d)? requests with 5xx \(max 10\)/);
    const passed = await run('--max-deviation', '5000', '--max-errors', '100000');
    expect(passed.code).toBe(0);
    expect(passed.out).toMatch(/^PASS/);
  });

  it('use the documented PromQL', () => {
    expect(canaryQueries()).toEqual({
      requests: 'sum by (release) (increase(http_request_duration_seconds_count{job="numbering",route!~"/metrics|/health.*"}[1m]))',
      errors: 'sum by (release) (increase(http_request_duration_seconds_count{job="numbering",route!~"/metrics|/health.*",status_code=~"5.."}[1m]))',
      p95: 'histogram_quantile(0.95, sum by (release, le) (rate(http_request_duration_seconds_bucket{job="numbering",route!~"/metrics|/health.*"}[1m])))',
    });
  });
});

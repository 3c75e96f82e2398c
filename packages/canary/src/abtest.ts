import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Release } from './analysis.js';

/**
 * `canary abtest`: the same request, n times at concurrency c, sent straight to each release (not
 * through nginx, so the split does not decide who gets how much), then status codes and latency
 * percentiles side by side in a self-contained HTML report.
 *
 * The releases are tested one after the other, not at once: on a small machine two load runs would
 * compete for the same CPUs and each would make the other look slow.
 */

/** Response header naming the release that answered (set by the service). */
export const RELEASE_HEADER = 'x-release';

export interface RequestSpec {
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

/**
 * The default request reads and allocates nothing: the release's own health endpoint (the one the
 * devstack checks), so an A/B test can run against a live stack without consuming numbers.
 */
export const DEFAULT_REQUEST: RequestSpec = { method: 'GET', path: '/health/numbering' };

export interface LoadTarget {
  release: Release;
  /** Base URL of the release, e.g. http://127.0.0.1:3101 */
  url: string;
}

export interface LatencySummary {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ReleaseLoadResult {
  release: Release;
  url: string;
  /** Requests sent. */
  requests: number;
  /** Responses by HTTP status (`"200"`, `"503"`). */
  statusCounts: Record<string, number>;
  /** Requests that got no response, by error code (ECONNREFUSED, timeout). */
  networkErrors: Record<string, number>;
  /** Responses whose X-Release header named another release (or none): the URL does not point where it should. */
  wrongRelease: number;
  /** Latency of the requests that got a response, in ms; null if none did. */
  latencyMs: LatencySummary | null;
  durationMs: number;
  requestsPerSecond: number;
}

export interface AbTestReport {
  startedAt: string;
  request: RequestSpec;
  requests: number;
  concurrency: number;
  results: ReleaseLoadResult[];
}

export interface LoadOptions {
  requests: number;
  concurrency: number;
  request?: RequestSpec;
  timeoutMs?: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) throw new Error('percentile of no values');
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function summarizeLatencies(values: readonly number[]): LatencySummary | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0]!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1)!,
  };
}

function checkLoad(opts: LoadOptions) {
  if (!Number.isInteger(opts.requests) || opts.requests < 1) throw new Error(`-n (requests) must be an integer >= 1, got ${opts.requests}`);
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error(`-c (concurrency) must be an integer >= 1, got ${opts.concurrency}`);
}

interface Outcome {
  status?: number;
  release?: string;
  error?: string;
  ms: number;
}

function once(agent: Agent, base: URL, spec: RequestSpec, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const headers: Record<string, string> = { ...(spec.headers ?? {}) };
    if (spec.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(spec.body));
    }
    const req = httpRequest(new URL(spec.path, base), { method: spec.method, agent, headers, timeout: timeoutMs }, (res: IncomingMessage) => {
      res.resume();
      res.once('end', () => {
        const header = res.headers[RELEASE_HEADER];
        resolve({ status: res.statusCode ?? 0, release: Array.isArray(header) ? header[0] : header, ms: performance.now() - t0 });
      });
      res.once('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, ms: performance.now() - t0 }));
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.once('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, ms: performance.now() - t0 }));
    req.end(spec.body);
  });
}

/** Sends `requests` requests to one release, `concurrency` at a time over kept-alive connections. */
export async function loadRelease(target: LoadTarget, opts: LoadOptions): Promise<ReleaseLoadResult> {
  checkLoad(opts);
  const spec = opts.request ?? DEFAULT_REQUEST;
  const base = new URL(target.url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const outcomes: Outcome[] = [];
  let sent = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency, opts.requests) }, async () => {
        while (sent < opts.requests) {
          sent++;
          outcomes.push(await once(agent, base, spec, opts.timeoutMs ?? 10_000));
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const durationMs = performance.now() - t0;
  const statusCounts: Record<string, number> = {};
  const networkErrors: Record<string, number> = {};
  const latencies: number[] = [];
  let wrongRelease = 0;
  for (const o of outcomes) {
    if (o.error !== undefined) {
      networkErrors[o.error] = (networkErrors[o.error] ?? 0) + 1;
      continue;
    }
    statusCounts[String(o.status)] = (statusCounts[String(o.status)] ?? 0) + 1;
    latencies.push(o.ms);
    if (o.release !== target.release) wrongRelease++;
  }
  return {
    release: target.release,
    url: target.url,
    requests: outcomes.length,
    statusCounts,
    networkErrors,
    wrongRelease,
    latencyMs: summarizeLatencies(latencies),
    durationMs,
    requestsPerSecond: outcomes.length / (durationMs / 1000),
  };
}

export async function runAbTest(targets: LoadTarget[], opts: LoadOptions & { log?: (line: string) => void }): Promise<AbTestReport> {
  checkLoad(opts);
  const startedAt = new Date().toISOString();
  const results: ReleaseLoadResult[] = [];
  for (const target of targets) {
    opts.log?.(`abtest: ${opts.requests} × ${(opts.request ?? DEFAULT_REQUEST).method} ${(opts.request ?? DEFAULT_REQUEST).path} to ${target.release} (${target.url}), concurrency ${opts.concurrency}`);
    results.push(await loadRelease(target, opts));
  }
  return { startedAt, request: opts.request ?? DEFAULT_REQUEST, requests: opts.requests, concurrency: opts.concurrency, results };
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const okCount = (r: ReleaseLoadResult) => Object.entries(r.statusCounts).filter(([s]) => /^2/.test(s)).reduce((a, [, n]) => a + n, 0);
const fiveXx = (r: ReleaseLoadResult) => Object.entries(r.statusCounts).filter(([s]) => /^5/.test(s)).reduce((a, [, n]) => a + n, 0);
const ms = (v: number | undefined) => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const share = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)} %` : '-');

/** A few lines for the terminal. */
export function summarizeAbTest(report: AbTestReport): string {
  const lines = [`${report.request.method} ${report.request.path}, ${report.requests} requests per release, concurrency ${report.concurrency}`];
  for (const r of report.results) {
    const l = r.latencyMs;
    const statuses = Object.entries(r.statusCounts).map(([s, n]) => `${s}×${n}`).join(' ');
    const errors = sum(r.networkErrors) ? `, no response ${Object.entries(r.networkErrors).map(([e, n]) => `${e}×${n}`).join(' ')}` : '';
    lines.push(
      `  ${r.release.padEnd(6)} ${share(okCount(r), r.requests).padStart(7)} 2xx  [${statuses}${errors}]  p50 ${ms(l?.p50)} ms  p95 ${ms(l?.p95)} ms  p99 ${ms(l?.p99)} ms  ${r.requestsPerSecond.toFixed(0)} req/s` +
        (r.wrongRelease ? `  (${r.wrongRelease} answers from another release!)` : ''),
    );
  }
  return lines.join('\n');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COLORS: Record<Release, string> = { stable: '#3b6fb6', canary: '#e0882b' };

/** Grouped bars: one group per percentile, one bar per release, scaled to the slowest. */
function latencySvg(results: ReleaseLoadResult[]): string {
  const keys = ['p50', 'p90', 'p95', 'p99', 'max'] as const;
  const max = Math.max(1e-9, ...results.flatMap((r) => (r.latencyMs ? keys.map((k) => r.latencyMs![k]) : [0])));
  const barW = 28;
  const groupW = results.length * barW + 24;
  const chartH = 200;
  const top = 20;
  const width = 60 + keys.length * groupW;
  const height = top + chartH + 40;
  const parts: string[] = [];
  keys.forEach((k, gi) => {
    const gx = 60 + gi * groupW;
    results.forEach((r, ri) => {
      const v = r.latencyMs?.[k] ?? 0;
      const h = Math.round((v / max) * chartH);
      const x = gx + ri * barW;
      const y = top + chartH - h;
      parts.push(`<rect x="${x}" y="${y}" width="${barW - 4}" height="${h}" fill="${COLORS[r.release]}"><title>${r.release} ${k} ${ms(v)} ms</title></rect>`);
      parts.push(`<text x="${x + (barW - 4) / 2}" y="${y - 4}" font-size="10" text-anchor="middle">${ms(v)}</text>`);
    });
    parts.push(`<text x="${gx + (results.length * barW) / 2}" y="${top + chartH + 16}" font-size="12" text-anchor="middle">${k}</text>`);
  });
  parts.push(`<line x1="56" y1="${top + chartH}" x2="${width}" y2="${top + chartH}" stroke="#999"/>`);
  parts.push(`<text x="4" y="${top + 10}" font-size="11">${ms(max)} ms</text><text x="4" y="${top + chartH}" font-size="11">0</text>`);
  return `<svg role="img" aria-label="latency percentiles per release" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

/** One stacked bar per release: 2xx / 4xx / 5xx / no response. */
function outcomeSvg(results: ReleaseLoadResult[]): string {
  const width = 520;
  const rowH = 28;
  const height = results.length * rowH + 10;
  const classes: { label: string; color: string; count: (r: ReleaseLoadResult) => number }[] = [
    { label: '2xx', color: '#4caf50', count: okCount },
    { label: '4xx', color: '#f2c12e', count: (r) => Object.entries(r.statusCounts).filter(([s]) => /^4/.test(s)).reduce((a, [, n]) => a + n, 0) },
    { label: '5xx', color: '#d9412b', count: fiveXx },
    { label: 'no response', color: '#555', count: (r) => sum(r.networkErrors) },
  ];
  const parts: string[] = [];
  results.forEach((r, i) => {
    const y = 5 + i * rowH;
    parts.push(`<text x="0" y="${y + 17}" font-size="12">${r.release}</text>`);
    let x = 70;
    for (const c of classes) {
      const n = c.count(r);
      if (!n) continue;
      const w = Math.max(1, Math.round((n / Math.max(1, r.requests)) * (width - 80)));
      parts.push(`<rect x="${x}" y="${y}" width="${w}" height="22" fill="${c.color}"><title>${r.release} ${c.label}: ${n}</title></rect>`);
      x += w;
    }
  });
  return `<svg role="img" aria-label="response classes per release" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

/** The report as one HTML file: inline CSS and SVG, no scripts, no external assets. */
export function renderAbTestHtml(report: AbTestReport): string {
  const rows = report.results
    .map((r) => {
      const l = r.latencyMs;
      const statuses = Object.entries(r.statusCounts).map(([s, n]) => `${escapeHtml(s)}: ${n}`).join(', ') || '-';
      const errors = Object.entries(r.networkErrors).map(([e, n]) => `${escapeHtml(e)}: ${n}`).join(', ') || '-';
      return `<tr><th scope="row"><span class="dot" style="background:${COLORS[r.release]}"></span>${r.release}</th><td>${escapeHtml(r.url)}</td><td>${r.requests}</td><td>${share(okCount(r), r.requests)}</td><td>${fiveXx(r)}</td><td>${statuses}</td><td>${errors}</td><td>${r.wrongRelease}</td><td>${ms(l?.p50)}</td><td>${ms(l?.p90)}</td><td>${ms(l?.p95)}</td><td>${ms(l?.p99)}</td><td>${ms(l?.max)}</td><td>${ms(l?.mean)}</td><td>${r.requestsPerSecond.toFixed(0)}</td></tr>`;
    })
    .join('\n');
  const title = `Canary A/B test ${report.startedAt}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; font-variant-numeric: tabular-nums; }
th[scope=row], thead th { text-align: left; background: #f4f4f4; }
.dot { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.meta { color: #555; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${escapeHtml(report.request.method)} ${escapeHtml(report.request.path)} · ${report.requests} requests per release · concurrency ${report.concurrency} · releases tested one after the other, directly (not through nginx)</p>
<table>
<thead><tr><th>release</th><th>url</th><th>requests</th><th>2xx</th><th>5xx</th><th>status codes</th><th>no response</th><th>wrong release</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>mean ms</th><th>req/s</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<h2>Latency (ms)</h2>
${latencySvg(report.results)}
<h2>Responses</h2>
${outcomeSvg(report.results)}
<p class="meta">Legend: ${report.results.map((r) => `<span class="dot" style="background:${COLORS[r.release]}"></span>${r.release}`).join(' ')} · bars: <span class="dot" style="background:#4caf50"></span>2xx <span class="dot" style="background:#f2c12e"></span>4xx <span class="dot" style="background:#d9412b"></span>5xx <span class="dot" style="background:#555"></span>no response</p>
</body>
</html>
`;
}

export function writeAbTestReport(report: AbTestReport, file: string): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderAbTestHtml(report));
  return file;
}

/** `reports/abtest-2026-01-31T12-00-00-000Z.html` (no colons: valid on every file system). */
export const defaultReportName = (startedAt: string) => `abtest-${startedAt.replace(/[:.]/g, '-')}.html`;

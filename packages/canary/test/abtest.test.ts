import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultReportName, percentile, renderAbTestHtml, runAbTest, summarizeAbTest, summarizeLatencies, writeAbTestReport } from '../src/abtest.js';

/**
 * The load tool against two local HTTP servers standing in for the releases: a fast stable one and a
 * slower canary that answers every 5th request with 500. (A test of the load tool, not of the service.)
 */
const servers: Server[] = [];
const seen = { stable: [] as string[], canary: [] as string[] };
let stableUrl = '';
let canaryUrl = '';
let refusedUrl = '';
let dir = '';

function listen(server: Server): Promise<string> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'canary-abtest-'));
  stableUrl = await listen(
    createServer((req, res) => {
      seen.stable.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'x-release': 'stable', 'content-type': 'application/json' }).end('{"status":"ok"}');
    }),
  );
  let n = 0;
  canaryUrl = await listen(
    createServer((req, res) => {
      seen.canary.push(`${req.method} ${req.url}`);
      const status = ++n % 5 === 0 ? 500 : 200;
      setTimeout(() => res.writeHead(status, { 'x-release': 'canary' }).end(), 15);
    }),
  );
  const closed = createServer();
  refusedUrl = await listen(closed);
  await new Promise((r) => closed.close(r));
});

afterAll(async () => {
  await Promise.all(servers.filter((s) => s.listening).map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('runAbTest', () => {
  it('sends n requests to each release with concurrency c and reports status codes and percentiles', async () => {
    const lines: string[] = [];
    const report = await runAbTest(
      [
        { release: 'stable', url: stableUrl },
        { release: 'canary', url: canaryUrl },
      ],
      { requests: 200, concurrency: 8, log: (l) => lines.push(l) },
    );
    const [stable, canary] = report.results;
    expect(seen.stable).toHaveLength(200);
    expect(seen.canary).toHaveLength(200);
    expect(new Set(seen.stable)).toEqual(new Set(['GET /health/numbering']));
    expect(stable).toMatchObject({ release: 'stable', requests: 200, statusCounts: { '200': 200 }, networkErrors: {}, wrongRelease: 0 });
    expect(canary).toMatchObject({ release: 'canary', requests: 200, statusCounts: { '200': 160, '500': 40 }, wrongRelease: 0 });
    // the canary sleeps 15 ms per request; stable answers at once
    expect(canary!.latencyMs!.p50).toBeGreaterThanOrEqual(14);
    expect(canary!.latencyMs!.p50).toBeGreaterThan(stable!.latencyMs!.p50);
    for (const r of report.results) {
      const l = r.latencyMs!;
      expect(l.min).toBeLessThanOrEqual(l.p50);
      expect(l.p50).toBeLessThanOrEqual(l.p95);
      expect(l.p95).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
    }
    expect(lines).toHaveLength(2);
    const summary = summarizeAbTest(report);
    expect(summary).toMatch(/stable\s+100\.0 % 2xx\s+\[200×200\]/);
    expect(summary).toMatch(/canary\s+80\.0 % 2xx\s+\[200×160 500×40\]/);

    const file = writeAbTestReport(report, join(dir, 'reports', defaultReportName(report.startedAt)));
    const html = readFileSync(file, 'utf8');
    expect(file).toMatch(/abtest-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.html$/);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<table>');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html.match(/<tr><th scope="row">/g)).toHaveLength(2);
    expect(html).toContain('500: 40');
    // self-contained: nothing loaded from anywhere
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|url\(|@import/i);
  });

  it('sends the configured method, path and body', async () => {
    seen.stable.length = 0;
    const report = await runAbTest([{ release: 'stable', url: stableUrl }], { requests: 5, concurrency: 2, request: { method: 'POST', path: '/v1/preview', body: '{"series":"COR"}' } });
    expect(seen.stable).toEqual(Array(5).fill('POST /v1/preview'));
    expect(report.results[0]!.statusCounts).toEqual({ '200': 5 });
  });

  it('counts refused connections and answers from the wrong release', async () => {
    const report = await runAbTest(
      [
        { release: 'stable', url: refusedUrl },
        { release: 'canary', url: stableUrl },
      ],
      { requests: 10, concurrency: 3 },
    );
    expect(report.results[0]).toMatchObject({ requests: 10, statusCounts: {}, networkErrors: { ECONNREFUSED: 10 }, latencyMs: null });
    expect(report.results[1]).toMatchObject({ wrongRelease: 10 });
    expect(summarizeAbTest(report)).toMatch(/10 answers from another release!/);
    expect(renderAbTestHtml(report)).toContain('ECONNREFUSED: 10');
  });

  it('rejects bad -n and -c', async () => {
    await expect(runAbTest([{ release: 'stable', url: stableUrl }], { requests: 0, concurrency: 1 })).rejects.toThrow(/-n \(requests\) must be an integer >= 1/);
    await expect(runAbTest([{ release: 'stable', url: stableUrl }], { requests: 1, concurrency: 0 })).rejects.toThrow(/-c \(concurrency\)/);
  });
});

describe('percentiles', () => {
  it('uses the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(summarizeLatencies([3, 1, 2])).toMatchObject({ min: 1, p50: 2, max: 3, mean: 2 });
    expect(summarizeLatencies([])).toBeNull();
  });
});

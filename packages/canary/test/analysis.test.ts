import { defaultPlatformConfig } from '@numbering/blueprint';
import { describe, expect, it } from 'vitest';
import { allowedCanaryErrorRate, evaluateCanary, formatVerdict, metricsFrom, thresholdsFromConfig, type Thresholds } from '../src/analysis.js';

const t: Thresholds = { maxErrorDeviationPct: 50, errorRateFloorPct: 1, maxCanaryErrors: 10, maxP95Ms: 500, minCanaryRequests: 20 };

describe('evaluateCanary', () => {
  it('passes a canary that behaves like stable', () => {
    const v = evaluateCanary(metricsFrom(1000, 5, 80), metricsFrom(200, 1, 90), t);
    expect(v.result).toBe('pass');
    expect(v.checks.every((c) => c.ok)).toBe(true);
    expect(v.reasons).toHaveLength(4);
  });

  it('does not fail 0 % against 0.1 %: the absolute floor applies', () => {
    const v = evaluateCanary(metricsFrom(10_000, 0, 50), metricsFrom(1000, 1, 50), t);
    expect(v.result).toBe('pass');
    expect(v.checks.find((c) => c.name === 'error rate deviation')?.message).toMatch(/0\.10 % <= allowed 1\.00 % \(floor/);
  });

  it('fails a canary whose error rate exceeds stable by more than the deviation', () => {
    // stable 4 %, allowed 6 %; canary 8 % (8 errors of 100, under the count limit)
    const v = evaluateCanary(metricsFrom(1000, 40, 50), metricsFrom(100, 8, 50), t);
    expect(v.result).toBe('fail');
    expect(v.reasons).toEqual(['canary error rate 8.00 % > allowed 6.00 % (stable 4.00 % + 50 %)']);
  });

  it('passes a canary just inside the relative deviation', () => {
    const v = evaluateCanary(metricsFrom(1000, 40, 50), metricsFrom(100, 6, 50), t);
    expect(v.result).toBe('pass');
  });

  it('fails on the 5xx count even when the rate is fine', () => {
    const v = evaluateCanary(metricsFrom(100_000, 1000, 50), metricsFrom(10_000, 11, 50), t);
    expect(v.result).toBe('fail');
    expect(v.reasons[0]).toMatch(/11 requests with 5xx \(max 10\)/);
  });

  it('fails a canary that errors on little traffic instead of calling it inconclusive', () => {
    const v = evaluateCanary(metricsFrom(1000, 0, 50), metricsFrom(12, 12, 5), t);
    expect(v.result).toBe('fail');
  });

  it('fails on p95 latency', () => {
    const v = evaluateCanary(metricsFrom(1000, 0, 80), metricsFrom(200, 0, 750), t);
    expect(v.result).toBe('fail');
    expect(v.reasons).toEqual(['canary p95 750 ms > max 500 ms (stable 80 ms)']);
  });

  it('lists every failed check', () => {
    const v = evaluateCanary(metricsFrom(1000, 0, 80), metricsFrom(200, 10, 750), t);
    expect(v.result).toBe('fail');
    expect(v.reasons).toHaveLength(2);
  });

  it('is inconclusive with too few canary requests and says why (no traffic on the canary)', () => {
    const v = evaluateCanary(metricsFrom(1000, 0, 80), metricsFrom(3, 0, 80), t);
    expect(v.result).toBe('inconclusive');
    expect(v.reasons[0]).toMatch(/no values to judge: the canary served only 3 requests in the window \(need at least 20\)/);
    expect(v.reasons[0]).toMatch(/canary\.weight above 0/);
  });

  it('is inconclusive when neither release has traffic and points at the scrape', () => {
    const v = evaluateCanary(metricsFrom(0, 0, null), metricsFrom(0, 0, null), t);
    expect(v.result).toBe('inconclusive');
    expect(v.reasons[0]).toMatch(/Neither release has traffic.*job "numbering"/);
  });

  it('judges the canary on the floor alone when stable has no traffic (weight 100)', () => {
    expect(evaluateCanary(metricsFrom(0, 0, null), metricsFrom(500, 4, 50), t).result).toBe('pass');
    const v = evaluateCanary(metricsFrom(0, 0, null), metricsFrom(500, 9, 50), t);
    expect(v.result).toBe('fail');
    expect(v.reasons[0]).toMatch(/stable served only 0 requests, too few for a baseline/);
  });

  it('is inconclusive when requests exist but no latency could be computed', () => {
    expect(evaluateCanary(metricsFrom(1000, 0, 50), metricsFrom(100, 0, null), t).result).toBe('inconclusive');
    expect(evaluateCanary(metricsFrom(1000, 0, 50), metricsFrom(100, 0, Number.NaN), t).result).toBe('inconclusive');
  });

  it('formats one line per check', () => {
    const text = formatVerdict(evaluateCanary(metricsFrom(1000, 0, 80), metricsFrom(200, 0, 750), t));
    expect(text.split('\n')[0]).toMatch(/^FAIL: stable 1000 req/);
    expect(text).toMatch(/FAIL canary p95 latency/);
  });
});

describe('allowedCanaryErrorRate', () => {
  it('uses the relative limit above the floor and the floor below it', () => {
    expect(allowedCanaryErrorRate(metricsFrom(1000, 100, 1), t).limit).toBeCloseTo(0.15);
    expect(allowedCanaryErrorRate(metricsFrom(1000, 2, 1), t).limit).toBeCloseTo(0.01);
  });
});

describe('thresholdsFromConfig', () => {
  it('takes deviation and p95 from the stack config and the rest from defaults or overrides', () => {
    const monitoring = defaultPlatformConfig('local', { 'monitoring.canaryErrorDeviationPct': 25, 'monitoring.canaryLatencyP95Ms': 300 }).monitoring;
    expect(thresholdsFromConfig(monitoring, { maxCanaryErrors: 3, minCanaryRequests: undefined })).toEqual({
      maxErrorDeviationPct: 25,
      errorRateFloorPct: 1,
      maxCanaryErrors: 3,
      maxP95Ms: 300,
      minCanaryRequests: 20,
    });
  });

  it('rejects negative thresholds by name', () => {
    expect(() => thresholdsFromConfig(defaultPlatformConfig('local').monitoring, { maxCanaryErrors: -1 })).toThrow(/maxCanaryErrors must be a number >= 0/);
  });
});

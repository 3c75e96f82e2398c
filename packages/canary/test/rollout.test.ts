import { defaultPlatformConfig } from '@numbering/blueprint';
import { describe, expect, it } from 'vitest';
import { evaluateCanary, metricsFrom, type Thresholds, type Verdict, type VerdictResult } from '../src/analysis.js';
import { checkSteps, runRollout } from '../src/rollout.js';
import type { WeightTarget } from '../src/targets/types.js';

const t: Thresholds = { maxErrorDeviationPct: 50, errorRateFloorPct: 1, maxCanaryErrors: 10, maxP95Ms: 500, minCanaryRequests: 20 };

/** Real verdicts from the real rules, built from metrics that produce the wanted result. */
const verdicts: Record<VerdictResult, () => Verdict> = {
  pass: () => evaluateCanary(metricsFrom(1000, 0, 50), metricsFrom(200, 0, 60), t),
  fail: () => evaluateCanary(metricsFrom(1000, 0, 50), metricsFrom(200, 8, 60), t),
  inconclusive: () => evaluateCanary(metricsFrom(1000, 0, 50), metricsFrom(2, 0, 60), t),
};

/** A target that records every call, in order, and can be told to fail. */
function recordingTarget(opts: { failSetWeightAt?: number } = {}) {
  const calls: string[] = [];
  let weight = 0;
  const target: WeightTarget = {
    name: 'fake',
    getWeight: async () => weight,
    async setWeight(w) {
      calls.push(`weight ${w}`);
      if (w === opts.failSetWeightAt) throw new Error('nginx -t failed');
      weight = w;
    },
    async promote() {
      calls.push('promote');
      weight = 0;
    },
    async rollback() {
      calls.push('rollback');
      weight = 0;
    },
    platformConfig: async () => defaultPlatformConfig('local'),
  };
  return { target, calls, weight: () => weight };
}

/** analyze() answers from a script; sleep() records the waits and appends them to the call log. */
function harness(script: VerdictResult[] | ((weight: number) => VerdictResult), target = recordingTarget()) {
  const sleeps: number[] = [];
  let i = 0;
  const analyze = async () => {
    const result = typeof script === 'function' ? script(target.weight()) : script[i++];
    if (!result) throw new Error('analysis script exhausted');
    target.calls.push(`analyze=${result}`);
    return verdicts[result]();
  };
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    target.calls.push(`sleep ${ms}`);
  };
  return { ...target, analyze, sleep, sleeps, lines: [] as string[] };
}

describe('runRollout', () => {
  it('sets each weight, waits the interval, analyzes, and promotes after the last step', async () => {
    const h = harness(() => 'pass');
    const result = await runRollout({ steps: [10, 50, 100], intervalMs: 30_000, target: h.target, analyze: h.analyze, sleep: h.sleep, log: (l) => h.lines.push(l) });
    expect(result.status).toBe('promoted');
    expect(result.reachedWeight).toBe(100);
    expect(h.calls).toEqual([
      'weight 10', 'sleep 30000', 'analyze=pass',
      'weight 50', 'sleep 30000', 'analyze=pass',
      'weight 100', 'sleep 30000', 'analyze=pass',
      'promote',
    ]);
    expect(h.lines.at(-1)).toMatch(/promoting/);
  });

  it('rolls back at once when an analysis fails, and does not go further', async () => {
    const h = harness((w) => (w >= 50 ? 'fail' : 'pass'));
    const result = await runRollout({ steps: [10, 50, 100], intervalMs: 1000, target: h.target, analyze: h.analyze, sleep: h.sleep });
    expect(result.status).toBe('rolled-back');
    expect(result.reachedWeight).toBe(50);
    expect(result.reason).toMatch(/analysis failed at 50%: canary error rate 4\.00 % > allowed 1\.00 %/);
    expect(h.calls).toEqual(['weight 10', 'sleep 1000', 'analyze=pass', 'weight 50', 'sleep 1000', 'analyze=fail', 'rollback']);
    expect(h.weight()).toBe(0);
  });

  it('retries an inconclusive analysis after another interval and goes on when it passes', async () => {
    const h = harness(['inconclusive', 'inconclusive', 'pass', 'pass']);
    const result = await runRollout({ steps: [10, 100], intervalMs: 5, target: h.target, analyze: h.analyze, sleep: h.sleep, maxInconclusive: 3 });
    expect(result.status).toBe('promoted');
    expect(result.steps.map((s) => s.verdicts.map((v) => v.result))).toEqual([['inconclusive', 'inconclusive', 'pass'], ['pass']]);
    expect(h.sleeps).toEqual([5, 5, 5, 5]);
  });

  it('treats more than maxInconclusive retries at one step as a failure', async () => {
    const h = harness(() => 'inconclusive');
    const result = await runRollout({ steps: [10, 100], intervalMs: 5, target: h.target, analyze: h.analyze, sleep: h.sleep, maxInconclusive: 2 });
    expect(result.status).toBe('rolled-back');
    expect(result.reason).toMatch(/inconclusive 3 times in a row at 10% \(max 2 retries\): no values to judge/);
    expect(h.calls.filter((c) => c.startsWith('analyze'))).toHaveLength(3);
    expect(h.calls.at(-1)).toBe('rollback');
  });

  it('counts inconclusive retries per step, not over the whole rollout', async () => {
    const h = harness(['inconclusive', 'pass', 'inconclusive', 'pass']);
    const result = await runRollout({ steps: [10, 100], intervalMs: 0, target: h.target, analyze: h.analyze, sleep: h.sleep, maxInconclusive: 1 });
    expect(result.status).toBe('promoted');
  });

  it('with maxInconclusive 0 the first inconclusive analysis rolls back', async () => {
    const h = harness(['inconclusive']);
    const result = await runRollout({ steps: [10], intervalMs: 0, target: h.target, analyze: h.analyze, sleep: h.sleep, maxInconclusive: 0 });
    expect(result.status).toBe('rolled-back');
  });

  it('counts an analysis that throws (Prometheus down) as inconclusive, never as a pass', async () => {
    const h = harness(() => 'pass');
    const analyze = async (): Promise<Verdict> => {
      throw new Error('cannot reach Prometheus at http://127.0.0.1:1');
    };
    const result = await runRollout({ steps: [10], intervalMs: 0, target: h.target, analyze, sleep: h.sleep, maxInconclusive: 1 });
    expect(result.status).toBe('rolled-back');
    expect(result.reason).toMatch(/analysis error: cannot reach Prometheus/);
    expect(h.calls).not.toContain('promote');
  });

  it('rolls back when moving traffic fails', async () => {
    const h = harness(() => 'pass', recordingTarget({ failSetWeightAt: 30 }));
    const result = await runRollout({ steps: [10, 30], intervalMs: 0, target: h.target, analyze: h.analyze, sleep: h.sleep });
    expect(result).toMatchObject({ status: 'rolled-back', reachedWeight: 10 });
    expect(result.reason).toMatch(/setting weight 30% failed: nginx -t failed/);
    expect(h.calls.at(-1)).toBe('rollback');
  });

  it('rolls back when aborted', async () => {
    const h = harness(() => 'pass');
    const abort = new AbortController();
    const sleep = async () => abort.abort();
    const result = await runRollout({ steps: [10, 100], intervalMs: 0, target: h.target, analyze: h.analyze, sleep, signal: abort.signal });
    expect(result).toMatchObject({ status: 'rolled-back', reason: 'aborted' });
    expect(h.calls).toEqual(['weight 10', 'rollback']);
  });

  it('validates its input before touching the target', async () => {
    const h = harness(() => 'pass');
    await expect(runRollout({ steps: [10, 5], intervalMs: 0, target: h.target, analyze: h.analyze, sleep: h.sleep })).rejects.toThrow(/steps must increase, got 10 then 5/);
    await expect(runRollout({ steps: [10], intervalMs: -1, target: h.target, analyze: h.analyze, sleep: h.sleep })).rejects.toThrow(/interval/);
    expect(h.calls).toEqual([]);
  });
});

describe('checkSteps', () => {
  it('accepts increasing weights from 1 to 100', () => {
    expect(checkSteps([10, 30, 50, 75, 100])).toEqual([10, 30, 50, 75, 100]);
  });
  it.each([[[]], [[0, 10]], [[10, 101]], [[10, 10]], [[1.5]]])('rejects %j', (steps) => {
    expect(() => checkSteps(steps)).toThrow(/steps/);
  });
});

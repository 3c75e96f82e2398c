import type { Verdict } from './analysis.js';
import type { Log, WeightTarget } from './targets/types.js';

/**
 * The progressive rollout: for each step, set the weight, wait one interval, analyze. The rollout
 * advances only on `pass`:
 * - `fail` rolls back at once (weight 0) and the rollout ends as `rolled-back`;
 * - `inconclusive` (too little canary traffic to judge, or Prometheus not answering) waits another
 *   interval and analyzes again, up to `maxInconclusive` retries at the same step; one more
 *   inconclusive analysis counts as a failure and rolls back. A canary nobody can judge is never
 *   promoted (Argo Rollouts pauses for a human instead; an unattended CLI cannot);
 * - after the last step passed, the canary is promoted.
 * An error while moving traffic, or an abort (Ctrl-C), also rolls back.
 */

export interface RolloutOptions {
  /** Weights in percent, strictly increasing, 1..100 (e.g. 10, 30, 50, 75, 100). */
  steps: number[];
  /** Time between setting a weight and analyzing it (and between inconclusive retries). */
  intervalMs: number;
  target: WeightTarget;
  analyze: () => Promise<Verdict>;
  /** Inconclusive analyses retried at one step before the step counts as failed. */
  maxInconclusive?: number;
  sleep?: (ms: number) => Promise<void>;
  log?: Log;
  /** Aborting rolls back at the next check. */
  signal?: AbortSignal;
}

export const DEFAULT_MAX_INCONCLUSIVE = 3;

export interface StepRecord {
  weight: number;
  /** Every analysis made at this weight, in order. */
  verdicts: Verdict[];
}

export interface RolloutResult {
  status: 'promoted' | 'rolled-back';
  /** Highest weight that was set. */
  reachedWeight: number;
  steps: StepRecord[];
  /** Why it rolled back. */
  reason?: string;
}

export function checkSteps(steps: readonly number[]): number[] {
  if (!steps.length) throw new Error('steps: give at least one weight, e.g. 10,30,50,75,100');
  steps.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 1 || w > 100) throw new Error(`steps: each step is a canary.weight from 1 to 100, got ${JSON.stringify(w)}`);
    if (i > 0 && w <= steps[i - 1]!) throw new Error(`steps must increase, got ${steps[i - 1]} then ${w}`);
  });
  return [...steps];
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runRollout(opts: RolloutOptions): Promise<RolloutResult> {
  const steps = checkSteps(opts.steps);
  if (!Number.isFinite(opts.intervalMs) || opts.intervalMs < 0) throw new Error(`interval must be >= 0 ms, got ${opts.intervalMs}`);
  const maxInconclusive = opts.maxInconclusive ?? DEFAULT_MAX_INCONCLUSIVE;
  if (!Number.isInteger(maxInconclusive) || maxInconclusive < 0) throw new Error(`max-inconclusive must be an integer >= 0, got ${maxInconclusive}`);
  const sleep = opts.sleep ?? realSleep;
  const log = opts.log ?? (() => undefined);
  const { target } = opts;
  const records: StepRecord[] = [];
  let reachedWeight = 0;

  const rollBack = async (reason: string): Promise<RolloutResult> => {
    log(`rolling back: ${reason}`);
    await target.rollback();
    log(`rolled back on ${target.name}: weight 0`);
    return { status: 'rolled-back', reachedWeight, steps: records, reason };
  };
  const aborted = () => opts.signal?.aborted === true;

  log(`rollout on ${target.name}: steps ${steps.join(', ')} %, analysis every ${opts.intervalMs / 1000} s, up to ${maxInconclusive} inconclusive retries per step`);
  for (const weight of steps) {
    const record: StepRecord = { weight, verdicts: [] };
    records.push(record);
    try {
      await target.setWeight(weight);
    } catch (e) {
      return rollBack(`setting weight ${weight}% failed: ${(e as Error).message}`);
    }
    reachedWeight = weight;
    log(`weight ${weight}%: waiting ${opts.intervalMs / 1000} s before the analysis`);
    for (;;) {
      await sleep(opts.intervalMs);
      if (aborted()) return rollBack('aborted');
      let verdict: Verdict;
      try {
        verdict = await opts.analyze();
      } catch (e) {
        // Prometheus unreachable or a query error: as little to judge as no traffic.
        verdict = inconclusiveFrom(e);
      }
      record.verdicts.push(verdict);
      log(`weight ${weight}%: ${verdict.result}${verdict.reasons.length ? ` - ${verdict.reasons.join('; ')}` : ''}`);
      if (verdict.result === 'pass') break;
      if (verdict.result === 'fail') return rollBack(`analysis failed at ${weight}%: ${verdict.reasons.join('; ')}`);
      const retries = record.verdicts.length - 1;
      if (retries >= maxInconclusive) {
        return rollBack(`analysis inconclusive ${record.verdicts.length} times in a row at ${weight}% (max ${maxInconclusive} retries): ${verdict.reasons.join('; ')}`);
      }
      log(`weight ${weight}%: inconclusive, retry ${retries + 1} of ${maxInconclusive} after another interval`);
    }
  }
  if (aborted()) return rollBack('aborted');
  log(`every step passed: promoting the canary on ${target.name}`);
  await target.promote();
  return { status: 'promoted', reachedWeight, steps: records };
}

function inconclusiveFrom(e: unknown): Verdict {
  const none = { requests: 0, errors: 0, errorRate: null, p95Ms: null };
  const message = `analysis error: ${(e as Error).message ?? String(e)}`;
  return { result: 'inconclusive', reasons: [message], checks: [], stable: none, canary: none };
}

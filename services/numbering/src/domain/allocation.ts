/**
 * Planning one batch inside the counter's transaction: which sequence each request gets, which
 * sequence values are skipped because their formatted number already exists (after a counter
 * reset or between templates printing the same text), and which requests find the series exhausted.
 * Every sequence value from `current + 1` to `next` ends up either assigned or skipped, so the
 * ledger accounts for all of them. Pure: the caller supplies formatting (per entry: a revision token
 * may differ between requests of one counter) and the set of taken numbers.
 */

export interface Assignment<E> {
  entry: E;
  sequence: number;
  number: string;
}

export interface SkippedSequence {
  sequence: number;
  number: string;
}

export interface BatchPlan<E> {
  assigned: Assignment<E>[];
  skipped: SkippedSequence[];
  exhausted: E[];
  /** The counter's value after the batch. */
  next: number;
}

export function planBatch<E>(input: { current: number; max: number; entries: readonly E[]; format: (entry: E, sequence: number) => string; taken?: ReadonlySet<string> }): BatchPlan<E> {
  const { current, max, entries, format } = input;
  const taken = input.taken ?? new Set<string>();
  if (!Number.isSafeInteger(current) || current < 0) throw new Error(`counter value must be a non-negative integer, got ${current}`);
  const plan: BatchPlan<E> = { assigned: [], skipped: [], exhausted: [], next: current };
  let sequence = current;
  for (const entry of entries) {
    let placed = false;
    while (sequence < max) {
      sequence++;
      const number = format(entry, sequence);
      if (taken.has(number)) {
        plan.skipped.push({ sequence, number });
        continue;
      }
      plan.assigned.push({ entry, sequence, number });
      placed = true;
      break;
    }
    if (!placed) plan.exhausted.push(entry);
  }
  plan.next = sequence;
  return plan;
}

/**
 * Numbers the plan would print, for the collision check. Run `planBatch` again with the numbers
 * found taken until `candidates` yields nothing new.
 */
export function planCandidates(plan: BatchPlan<unknown>): string[] {
  return [...plan.assigned.map((a) => a.number), ...plan.skipped.map((s) => s.number)];
}

/** Share of the series used, for `numbering_sequence_utilization` (0..1). */
export const utilization = (current: number, max: number) => (max > 0 ? Math.min(1, current / max) : 1);

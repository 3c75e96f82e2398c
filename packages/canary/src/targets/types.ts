import type { PlatformConfig } from '@numbering/blueprint';

/**
 * Where the canary weight lives: the devstack (stack.json + nginx reload) or a Pulumi stack (stack
 * config + `pulumi up`). The rollout logic only talks to this interface.
 */
export interface WeightTarget {
  /** Shown in logs: `devstack /work/main/.devstack`, `pulumi stack dev`. */
  readonly name: string;
  /** The weight as configured (what the split is, or will be after a pending apply). */
  getWeight(): Promise<number>;
  /** Sets `canary.weight` (0..100) and applies it; resolves once the new split is in effect. */
  setWeight(weight: number): Promise<void>;
  /** The canary becomes the stable release (`canary.stableVersion` := `canary.canaryVersion`), then all traffic goes to stable. */
  promote(): Promise<void>;
  /** All traffic back to stable (weight 0); the canary keeps running but serves nothing. */
  rollback(): Promise<void>;
  /** The stack config (thresholds, versions, where Prometheus is). */
  platformConfig(): Promise<PlatformConfig>;
}

/** A line of progress for the user. */
export type Log = (line: string) => void;

/** Validates a weight before anything is changed; the message names the config key. */
export function checkWeight(weight: unknown): number {
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new RangeError(`canary.weight must be an integer from 0 to 100 (percent of requests sent to the canary), got ${JSON.stringify(weight)}`);
  }
  return weight;
}

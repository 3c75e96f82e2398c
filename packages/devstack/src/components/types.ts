import type { PlatformModel, PlatformSecrets } from '@numbering/blueprint';
import type { ProgramSpec } from '../supervisor.js';

export interface StackContext {
  model: PlatformModel;
  secrets: PlatformSecrets;
  /** Absolute devstack directory (configs, data, logs). */
  workdir: string;
  /** Absolute repository root (to run the service from source). */
  repoRoot: string;
  /** Extra environment per release, e.g. fault injection for a deliberately broken canary. */
  extraServiceEnv?: Partial<Record<'stable' | 'canary', Record<string, string>>>;
}

export interface HealthLine {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * One platform component on the devstack. `prepare` writes configs and data dirs (idempotent, keeps
 * data), `programs` are the long-running daemons supervisord keeps up, `initialize` does the
 * one-shot work that needs them running (cluster create, grants, migrations), `health` reports.
 */
export interface Component {
  name: string;
  prepare(ctx: StackContext): Promise<void>;
  programs(ctx: StackContext): ProgramSpec[];
  /** Resolves once the programs answer; throws with a hint if they do not in time. */
  waitReady(ctx: StackContext): Promise<void>;
  initialize?(ctx: StackContext): Promise<void>;
  health(ctx: StackContext): Promise<HealthLine[]>;
}

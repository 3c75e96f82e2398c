import { configKeys, parsePlatformConfig, type PlatformConfig } from '@numbering/blueprint';
import { repoRoot } from '@numbering/devstack';
import { checkWeight, type Log, type WeightTarget } from './types.js';

/**
 * A Pulumi stack (`dev` = Docker, `prod` = Kubernetes) as a weight target, driven through the
 * Automation API: set the stack config key, then `pulumi up`, exactly what an operator would type.
 *
 * The Automation API shells out to the `pulumi` CLI. The CLI is not installed on the machines this
 * project is developed and tested on, so the tests inject a fake of the small part of the Automation
 * API used here (`AutomationStack`); that is the only place in this package where a fake stands in
 * for the real thing.
 */

/** The project's config namespace (`name:` in Pulumi.yaml). */
export const PULUMI_NAMESPACE = 'numbering';
export const WEIGHT_KEY = `${PULUMI_NAMESPACE}:canary.weight`;
export const STABLE_VERSION_KEY = `${PULUMI_NAMESPACE}:canary.stableVersion`;
export const CANARY_VERSION_KEY = `${PULUMI_NAMESPACE}:canary.canaryVersion`;

export interface ConfigValue {
  value: string;
  secret?: boolean;
}

/** The subset of `@pulumi/pulumi/automation`'s `Stack` this target uses. */
export interface AutomationStack {
  getAllConfig(): Promise<Record<string, ConfigValue>>;
  setConfig(key: string, value: ConfigValue): Promise<void>;
  up(opts?: { onOutput?: (out: string) => void; message?: string }): Promise<{ summary: { result: string } }>;
}

export type SelectStack = (args: { stackName: string; workDir: string }) => Promise<AutomationStack>;

/** The real one: `LocalWorkspace.selectStack`, loaded on first use (the SDK takes ~2 s to import). */
export const automationSelectStack: SelectStack = async (args) => {
  const { LocalWorkspace } = await import('@pulumi/pulumi/automation/index.js');
  return LocalWorkspace.selectStack(args);
};

export interface PulumiTargetOptions {
  /** Stack name: `dev` or `prod`. */
  stack: string;
  /** Directory of Pulumi.yaml; the repository root. */
  workDir?: string;
  selectStack?: SelectStack;
  log?: Log;
}

function explain(e: unknown, stack: string): Error {
  const message = (e as Error).message ?? String(e);
  if (/ENOENT/.test(message) && /pulumi/.test(message)) {
    return new Error(`the Pulumi CLI is not installed: the Automation API runs \`pulumi\` to change stack ${stack} (install it from https://www.pulumi.com/docs/install/, or use --stack devstack)`);
  }
  return e instanceof Error ? e : new Error(message);
}

export function pulumiTarget(opts: PulumiTargetOptions): WeightTarget {
  const select = opts.selectStack ?? automationSelectStack;
  const log = opts.log ?? (() => undefined);
  let selected: Promise<AutomationStack> | undefined;
  const stack = () => (selected ??= select({ stackName: opts.stack, workDir: opts.workDir ?? repoRoot }).catch((e: unknown) => {
    selected = undefined;
    throw explain(e, opts.stack);
  }));

  async function config(): Promise<PlatformConfig> {
    const all = await (await stack()).getAllConfig();
    // Other namespaces (kubernetes:context, docker:host) and secrets the program reads on its own are not platform config.
    const known = new Set(configKeys().map((k) => `${PULUMI_NAMESPACE}:${k}`));
    const raw = Object.fromEntries(Object.entries(all).filter(([k]) => known.has(k)).map(([k, v]) => [k, v.value]));
    return parsePlatformConfig({ target: opts.stack === 'prod' ? 'kubernetes' : 'docker', ...raw });
  }

  async function apply(changes: Record<string, string>, message: string): Promise<void> {
    const s = await stack();
    for (const [key, value] of Object.entries(changes)) await s.setConfig(key, { value });
    log(`pulumi stack ${opts.stack}: ${message}: pulumi up`);
    const result = await s.up({ message: `canary: ${message}`, onOutput: (out) => log(out.trimEnd()) }).catch((e: unknown) => {
      throw explain(e, opts.stack);
    });
    if (result.summary.result !== 'succeeded') throw new Error(`pulumi up on stack ${opts.stack} ended with "${result.summary.result}" (${message})`);
  }

  const setWeight = async (weight: number) => {
    checkWeight(weight);
    await apply({ [WEIGHT_KEY]: String(weight) }, `canary weight ${weight}%`);
  };

  return {
    name: `pulumi stack ${opts.stack}`,
    getWeight: async () => (await config()).canary.weight,
    setWeight,
    async promote() {
      const { canaryVersion } = (await config()).canary;
      // Two updates, in this order: the stable Deployment rolls to the canary's image first (its pods
      // become ready before old ones go), and only then does traffic move off the canary.
      await apply({ [STABLE_VERSION_KEY]: canaryVersion }, `promote: stable becomes ${canaryVersion}`);
      await setWeight(0);
    },
    rollback: () => setWeight(0),
    platformConfig: config,
  };
}

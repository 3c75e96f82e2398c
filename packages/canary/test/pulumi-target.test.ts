import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { automationSelectStack, pulumiTarget, type AutomationStack, type ConfigValue, type SelectStack } from '../src/targets/pulumi.js';

/**
 * THE ONE FAKE IN THIS PACKAGE. The Automation API drives the `pulumi` CLI, which is not installed
 * on the machines this project is built and tested on, so `pulumi up` cannot run here. This fake
 * stands in for the three Stack methods the target uses (getAllConfig, setConfig, up) and records
 * what the target asked for; the last test shows the real `LocalWorkspace` is what runs by default.
 */
const pulumiCliInstalled = (() => {
  try {
    execFileSync('pulumi', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function fakeAutomation(initial: Record<string, string> = {}, upResult = 'succeeded') {
  const config = new Map<string, ConfigValue>(Object.entries(initial).map(([k, v]) => [k, { value: v }]));
  const calls: string[] = [];
  const selected: { stackName: string; workDir: string }[] = [];
  const stack: AutomationStack = {
    getAllConfig: async () => Object.fromEntries(config),
    async setConfig(key, value) {
      calls.push(`set ${key}=${value.value}`);
      config.set(key, value);
    },
    async up(opts) {
      calls.push('up');
      opts?.onOutput?.('Updating (dev)\n');
      return { summary: { result: upResult } };
    },
  };
  const selectStack: SelectStack = async (args) => {
    selected.push(args);
    return stack;
  };
  return { selectStack, calls, selected, config };
}

describe('pulumiTarget (Automation API, with the injected fake)', () => {
  it('setWeight sets numbering:canary.weight, then runs up, on the selected stack', async () => {
    const fake = fakeAutomation();
    const lines: string[] = [];
    const target = pulumiTarget({ stack: 'dev', workDir: '/repo', selectStack: fake.selectStack, log: (l) => lines.push(l) });
    await target.setWeight(30);
    expect(fake.selected).toEqual([{ stackName: 'dev', workDir: '/repo' }]);
    expect(fake.calls).toEqual(['set numbering:canary.weight=30', 'up']);
    expect(lines).toContain('Updating (dev)');
    expect(await target.getWeight()).toBe(30);
    expect(target.name).toBe('pulumi stack dev');
  });

  it('rejects a bad weight before changing the stack', async () => {
    const fake = fakeAutomation();
    const target = pulumiTarget({ stack: 'prod', selectStack: fake.selectStack });
    await expect(target.setWeight(150)).rejects.toThrow(/canary\.weight must be an integer from 0 to 100/);
    expect(fake.calls).toEqual([]);
  });

  it('promote moves stable to the canary version first, then the traffic, each with its own up', async () => {
    const fake = fakeAutomation({ 'numbering:canary.weight': '50', 'numbering:canary.stableVersion': '1.0.0', 'numbering:canary.canaryVersion': '1.1.0', 'kubernetes:context': 'kind' });
    const target = pulumiTarget({ stack: 'prod', selectStack: fake.selectStack });
    await target.promote();
    expect(fake.calls).toEqual(['set numbering:canary.stableVersion=1.1.0', 'up', 'set numbering:canary.weight=0', 'up']);
    const config = await target.platformConfig();
    expect(config.target).toBe('kubernetes');
    expect(config.canary).toEqual({ weight: 0, stableVersion: '1.1.0', canaryVersion: '1.1.0' });
  });

  it('rollback sets the weight to 0 and runs up', async () => {
    const fake = fakeAutomation({ 'numbering:canary.weight': '75' });
    await pulumiTarget({ stack: 'dev', selectStack: fake.selectStack }).rollback();
    expect(fake.calls).toEqual(['set numbering:canary.weight=0', 'up']);
  });

  it('reads thresholds from the stack config, ignoring other namespaces', async () => {
    const fake = fakeAutomation({ 'numbering:monitoring.canaryLatencyP95Ms': '250', 'docker:host': 'unix:///var/run/docker.sock' });
    const config = await pulumiTarget({ stack: 'dev', selectStack: fake.selectStack }).platformConfig();
    expect(config.monitoring.canaryLatencyP95Ms).toBe(250);
    expect(config.target).toBe('docker');
  });

  it('fails when up does not succeed', async () => {
    const fake = fakeAutomation({}, 'failed');
    await expect(pulumiTarget({ stack: 'dev', selectStack: fake.selectStack }).setWeight(10)).rejects.toThrow(/pulumi up on stack dev ended with "failed"/);
  });

  it.skipIf(pulumiCliInstalled)('by default runs the real LocalWorkspace, which says the CLI is missing on this machine', async () => {
    const target = pulumiTarget({ stack: 'dev', selectStack: automationSelectStack });
    await expect(target.setWeight(10)).rejects.toThrow(/the Pulumi CLI is not installed: the Automation API runs `pulumi` to change stack dev/);
  }, 30_000);
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { devstackTarget, type DevstackOps } from '../src/targets/devstack.js';

/**
 * The devstack target's bookkeeping against a real (not running) devstack directory: what lands in
 * stack.json and in which order nginx and the release are touched. The reload itself runs against
 * a real nginx in devstack-weight.daemon.test.ts.
 */
let workdir: string;
beforeEach(() => {
  workdir = mkdtempSync(join(tmpdir(), 'canary-devstack-target-'));
});
afterEach(() => rmSync(workdir, { recursive: true, force: true }));

const stackJson = () => JSON.parse(readFileSync(join(workdir, 'stack.json'), 'utf8')) as Record<string, unknown>;

function recordingOps() {
  const calls: string[] = [];
  const ops: DevstackOps = {
    applyWeight: async (ctx) => {
      calls.push(`nginx weight ${ctx.model.canary.weight}`);
    },
    restartRelease: async (ctx, release) => {
      calls.push(`restart ${release.name} ${release.version} (weight ${ctx.model.canary.weight})`);
    },
  };
  return { ops, calls };
}

describe('devstackTarget', () => {
  it('persists the weight in stack.json and applies it', async () => {
    const { ops, calls } = recordingOps();
    const target = devstackTarget({ workdir, ops });
    expect(await target.getWeight()).toBe(0);
    await target.setWeight(30);
    expect(stackJson()['canary.weight']).toBe(30);
    expect(await target.getWeight()).toBe(30);
    expect(calls).toEqual(['nginx weight 30']);
    expect(target.name).toBe(`devstack ${workdir}`);
  });

  it('rejects weight 150 by key and range without writing anything', async () => {
    const { ops, calls } = recordingOps();
    const target = devstackTarget({ workdir, ops });
    await expect(target.setWeight(150)).rejects.toThrow(/canary\.weight must be an integer from 0 to 100.*got 150/);
    expect(calls).toEqual([]);
    expect(await target.getWeight()).toBe(0);
  });

  it('says the weight is saved but not applied when nginx cannot reload', async () => {
    const target = devstackTarget({ workdir, ops: { applyWeight: async () => Promise.reject(new Error('open() "nginx.pid" failed')) } });
    await expect(target.setWeight(40)).rejects.toThrow(/canary\.weight=40 is saved in .*stack\.json but nginx did not take it.*nginx\.pid/);
  });

  it('promote: canary takes all traffic, stable restarts as the canary version, then stable takes it all back', async () => {
    const { ops, calls } = recordingOps();
    const setup = devstackTarget({ workdir, ops: recordingOps().ops });
    // what a release manager sets up before a rollout
    await setup.setWeight(30);
    const { openStack } = await import('@numbering/devstack');
    openStack({ workdir, set: { 'canary.stableVersion': '1.0.0', 'canary.canaryVersion': '1.1.0' } });

    const lines: string[] = [];
    await devstackTarget({ workdir, ops, log: (l) => lines.push(l) }).promote();
    expect(calls).toEqual(['nginx weight 100', 'restart numbering-stable 1.1.0 (weight 100)', 'nginx weight 0']);
    expect(stackJson()).toMatchObject({ 'canary.weight': 0, 'canary.stableVersion': '1.1.0', 'canary.canaryVersion': '1.1.0' });
    expect(lines.join('\n')).toMatch(/restarting numbering-stable as version 1\.1\.0 \(was 1\.0\.0\)/);
  });

  it('rollback sets weight 0 and keeps the versions', async () => {
    const { ops, calls } = recordingOps();
    const target = devstackTarget({ workdir, ops });
    await target.setWeight(50);
    await target.rollback();
    expect(calls).toEqual(['nginx weight 50', 'nginx weight 0']);
    expect(stackJson()['canary.weight']).toBe(0);
  });

  it('the default restart refuses clearly when the devstack is not running', async () => {
    const target = devstackTarget({ workdir, ops: { applyWeight: async () => undefined } });
    await expect(target.promote()).rejects.toThrow(/is not running \(no supervisord\): start it with `pnpm devstack up`/);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../src/shared/service.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const workflow = (name: string): any => parse(readFileSync(join(REPO_ROOT, '.github', 'workflows', name), 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const steps = (job: any): any[] => job.steps;

describe('CI workflows', () => {
  it('ci: lint, typecheck and tests on push; the full run bootstraps the Debian packages', () => {
    const ci = workflow('ci.yml');
    expect(Object.keys(ci.on)).toContain('push');
    const checks = steps(ci.jobs.checks).map((s) => s.run ?? s.uses);
    expect(checks).toEqual(expect.arrayContaining(['pnpm lint', 'pnpm typecheck', 'pnpm test:unit']));
    expect(ci.jobs.full.container.image).toBe('debian:12');
    expect(steps(ci.jobs.full).some((s) => s.run === 'bash .ci/run')).toBe(true);
    expect(readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8')).toContain('scripts/bootstrap.sh');
  });

  it('pulumi-preview: previews both stacks on pull requests and comments on the PR (needs pull-requests: write)', () => {
    const preview = workflow('pulumi-preview.yml');
    expect(Object.keys(preview.on)).toEqual(['pull_request']);
    expect(preview.permissions['pull-requests']).toBe('write');
    expect(preview.jobs.preview.strategy.matrix.stack).toEqual(['dev', 'prod']);
    const action = steps(preview.jobs.preview).find((s) => String(s.uses).startsWith('pulumi/actions@'));
    expect(action.with).toMatchObject({ command: 'preview', 'comment-on-pr': true, 'stack-name': '${{ matrix.stack }}' });
    expect(action.env.PULUMI_ACCESS_TOKEN).toBe('${{ secrets.PULUMI_ACCESS_TOKEN }}');
    // The action does not install dependencies itself.
    const install = steps(preview.jobs.preview).findIndex((s) => s.run === 'pnpm install --frozen-lockfile');
    expect(install).toBeGreaterThan(-1);
    expect(install).toBeLessThan(steps(preview.jobs.preview).indexOf(action));
  });

  it('pulumi-up-dev: `pulumi up` of the dev stack on pushes to main, one at a time', () => {
    const up = workflow('pulumi-up-dev.yml');
    expect(up.on.push.branches).toEqual(['main']);
    expect(up.concurrency['cancel-in-progress']).toBe(false);
    const action = steps(up.jobs.up).find((s) => String(s.uses).startsWith('pulumi/actions@'));
    expect(action.with).toMatchObject({ command: 'up', 'stack-name': 'dev' });
    expect(action.env.PULUMI_ACCESS_TOKEN).toBe('${{ secrets.PULUMI_ACCESS_TOKEN }}');
  });
});

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/shared/service.js';

// The script users run; a subprocess, so it runs exactly as `pnpm preview:offline <stack>` does (tsx, no vitest).
const preview = (...args: string[]) => spawnSync('pnpm', ['-s', 'preview:offline', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });

describe('pnpm preview:offline', () => {
  it('prints the resource table of the prod stack with its summary', () => {
    const result = preview('prod', '--counts');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ \+ {3}pulumi:pulumi:Stack\s+numbering-prod\s+create$/m);
    expect(result.stdout).toMatch(/numbering:canary:Nginx\s+canary\s+create/);
    const created = Number(/\+ (\d+) to create/.exec(result.stdout)?.[1]);
    const rows = result.stdout.split('\n').filter((l) => l.startsWith(' +   ')).length;
    expect(rows).toBe(created);
    expect(result.stdout).toMatch(/^\s+4\s+kubernetes:apps\/v1:StatefulSet$/m);
    // pgBackRest: the repository host, its jobs and the TLS material.
    expect(result.stdout).toMatch(/kubernetes:apps\/v1:StatefulSet\s+pgbackrest\s+create/);
    expect(result.stdout).toMatch(/kubernetes:batch\/v1:CronJob\s+postgres-pgbackrest-backup-full\s+create/);
    expect(result.stdout).toMatch(/kubernetes:batch\/v1:CronJob\s+postgres-pgbackrest-backup-diff\s+create/);
    expect(result.stdout).toMatch(/kubernetes:batch\/v1:Job\s+postgres-pgbackrest-stanza-create\s+create/);
    expect(result.stdout).toMatch(/^\s+7\s+tls:index:PrivateKey$/m);
  }, 120_000);

  it('fails with a clear message for a stack without a stack file', () => {
    const result = preview('staging');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Pulumi.staging.yaml');
  }, 120_000);
});

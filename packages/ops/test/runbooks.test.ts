import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertDefinitions, buildPlatform, defaultPlatformConfig, runbookUrl } from '@numbering/blueprint';
import { commands } from '../src/commands/index.js';
import { findCommand } from '../src/main.js';

/**
 * The runbooks are what an on-call engineer follows at 3 a.m.: every alert must link a page that
 * exists and names it, and every `pnpm ops …` line in them must be a command the CLI knows.
 */

const runbookDir = resolve(import.meta.dirname, '..', '..', '..', 'docs', 'runbooks');
const model = buildPlatform(defaultPlatformConfig('kubernetes'));
const pages = new Map(readdirSync(runbookDir).filter((f) => f.endsWith('.md')).map((f) => [f, readFileSync(join(runbookDir, f), 'utf8')]));

describe('runbooks', () => {
  it('exist for every alert, are linked by its runbook_url, and name the alert', () => {
    const alerts = alertDefinitions(model);
    expect(alerts.length).toBeGreaterThan(5);
    for (const a of alerts) {
      const page = pages.get(`${a.runbook}.md`);
      expect(page, `docs/runbooks/${a.runbook}.md for ${a.alert}`).toBeDefined();
      expect(page, `${a.runbook}.md names ${a.alert}`).toContain(`\`${a.alert}\``);
      expect(runbookUrl(model, a.runbook)).toBe(`${model.monitoring.config.runbookBaseUrl}/${a.runbook}.md`);
      expect(pages.get('README.md'), `the index lists ${a.runbook}`).toContain(`(${a.runbook}.md)`);
    }
  });

  it('only tell the reader to run ops commands that exist', () => {
    const mentioned = [...pages.values()].flatMap((text) => [...text.matchAll(/pnpm ops ([a-z][a-z -]*[a-z])/g)].map((m) => m[1]!.trim()));
    expect(mentioned.length).toBeGreaterThan(5);
    const unknown = mentioned.filter((words) => words !== 'help' && !findCommand(words.split(' '), commands));
    expect(unknown).toEqual([]);
  });
});

import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, grafanaDashboards } from '../src/index.js';
import { output, run, scratch, writeFiles } from './support/tools.js';

const dirs = scratch('grafana');
afterAll(() => dirs.cleanup());

/** Grafana's built-in variables, replaced by what Grafana would put there, so promtool can parse the query. */
const GRAFANA_VARIABLES: Record<string, string> = { $__rate_interval: '1m', $__interval: '15s', $__range: '6h' };
const toPromQL = (expr: string) => expr.replace(/\$__\w+/g, (v) => GRAFANA_VARIABLES[v] ?? v);

interface Query {
  where: string;
  expr: string;
}
const queries = (): Query[] =>
  Object.values(grafanaDashboards(buildPlatform(defaultPlatformConfig('local'), { workdir: '/srv/devstack' }))).flatMap((d) =>
    d.panels.flatMap((p) => p.targets.map((t) => ({ where: `${d.uid} panel ${p.id} "${p.title}" query ${t.refId}`, expr: toPromQL(t.expr) }))),
  );

/** Every query as a recording rule: `promtool check rules` parses each expression with Prometheus' own parser. */
function checkRulesFile(qs: Query[]): string {
  return stringify({ groups: [{ name: 'grafana-panels', rules: qs.map((q, i) => ({ record: `grafana:panel_query_${i}`, expr: q.expr })) }] });
}

describe('every dashboard query is valid PromQL', () => {
  it('promtool check rules parses them all', async () => {
    const qs = queries();
    expect(qs.length).toBeGreaterThan(10);
    for (const q of qs) expect(q.expr, q.where).not.toMatch(/\$/);
    const dir = dirs.dir();
    writeFiles(dir, { 'panels.yml': checkRulesFile(qs) });
    const r = await run('promtool', ['check', 'rules', 'panels.yml'], { cwd: dir });
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${qs.length} rules found`);
  });

  it('the same check rejects a broken query (it can fail)', async () => {
    const qs = queries();
    qs[3] = { ...qs[3]!, expr: qs[3]!.expr.replace('(', '((') };
    const dir = dirs.dir();
    writeFiles(dir, { 'panels.yml': checkRulesFile(qs) });
    const r = await run('promtool', ['check', 'rules', 'panels.yml'], { cwd: dir });
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/parse error/);
  });
});

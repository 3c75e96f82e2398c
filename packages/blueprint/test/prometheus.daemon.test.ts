import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { alertDefinitions, buildPlatform, defaultPlatformConfig, endpointString, renderAlertRules, renderAlertRuleTests, renderPrometheusConfig, type PlatformModel, type Target } from '../src/index.js';
import { createTestbed, output, run, scratch, startDaemon, waitFor, writeFiles, type DaemonProcess } from './support/tools.js';

const dirs = scratch('prometheus');
afterAll(() => dirs.cleanup());

const modelOf = (target: Target, overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig(target, overrides), { workdir: '/srv/devstack' });

/** Thresholds far from the defaults: the rule tests must follow the config, not the defaults. */
const TUNED = {
  'monitoring.sequenceWarningRatio': 0.6,
  'monitoring.sequenceCriticalRatio': 0.7,
  'monitoring.lockWaitP95Seconds': 0.25,
  'monitoring.lockFailureRatio': 0.35,
  'monitoring.errorRatio': 0.2,
  'monitoring.canaryErrorDeviationPct': 200,
  'monitoring.canaryLatencyP95Ms': 120,
  'monitoring.runbookBaseUrl': 'https://runbooks.example/numbering',
  'postgres.members': 5,
};

/** rules.yml, rules.test.yml and prometheus.yml in a fresh directory, as Prometheus finds them. */
function writeMonitoring(model: PlatformModel, rules = renderAlertRules(model), tests = renderAlertRuleTests(model)): string {
  const dir = dirs.dir();
  writeFiles(dir, { 'prometheus.yml': renderPrometheusConfig(model), 'rules.yml': rules, 'rules.test.yml': tests });
  return dir;
}
const promtool = (dir: string, ...args: string[]) => run('promtool', args, { cwd: dir, timeoutMs: 60_000 });

/**
 * Debian builds Prometheus without Kubernetes service discovery (the prom/prometheus image the
 * Kubernetes stack runs has it), so its promtool rejects the field itself. Probed, not assumed.
 */
async function promtoolKnowsKubernetesSd(): Promise<boolean> {
  const dir = dirs.dir();
  writeFiles(dir, { 'probe.yml': stringify({ scrape_configs: [{ job_name: 'probe', kubernetes_sd_configs: [{ role: 'endpoints' }] }] }) });
  const r = await promtool(dir, 'check', 'config', 'probe.yml');
  return !/field kubernetes_sd_configs not found/.test(r.stdout + r.stderr);
}

/** The config with each Kubernetes discovery replaced by a static target; relabelling and the rest stay as rendered. */
function withoutKubernetesSd(config: string): string {
  const parsed = parse(config) as { scrape_configs: Record<string, unknown>[] };
  for (const job of parsed.scrape_configs) {
    if (!job.kubernetes_sd_configs) continue;
    delete job.kubernetes_sd_configs;
    job.static_configs = [{ targets: ['discovered-pod:3000'] }];
  }
  return stringify(parsed);
}

describe('promtool accepts the rendered monitoring config', () => {
  for (const target of ['local', 'docker', 'kubernetes'] as const) {
    it(`check config (with the rule file) for ${target}`, async () => {
      const dir = writeMonitoring(modelOf(target));
      if (target === 'kubernetes' && !(await promtoolKnowsKubernetesSd())) {
        console.log('promtool here is built without Kubernetes SD: checking the kubernetes config with its discovery blocks replaced by static targets');
        writeFiles(dir, { 'prometheus.yml': withoutKubernetesSd(renderPrometheusConfig(modelOf(target))) });
      }
      const r = await promtool(dir, 'check', 'config', join(dir, 'prometheus.yml'));
      expect(r.code, output(r)).toBe(0);
      expect(r.stdout).toContain('SUCCESS: 1 rule files found');
    });
  }

  it('check rules finds every alert and recording rule', async () => {
    const model = modelOf('local');
    const dir = writeMonitoring(model);
    const r = await promtool(dir, 'check', 'rules', 'rules.yml');
    expect(r.code, output(r)).toBe(0);
    const count = (parse(renderAlertRules(model)) as { groups: { rules: unknown[] }[] }).groups.reduce((n, g) => n + g.rules.length, 0);
    expect(r.stdout).toContain(`SUCCESS: ${count} rules found`);
  });

  for (const [what, overrides] of [['default thresholds', {}], ['tuned thresholds', TUNED]] as const) {
    it(`test rules passes with ${what}`, async () => {
      const dir = writeMonitoring(modelOf('local', overrides));
      const r = await promtool(dir, 'test', 'rules', 'rules.test.yml');
      expect(r.code, output(r)).toBe(0);
      expect(r.stdout).toContain('SUCCESS');
    });
  }

  it('a config promtool must reject is rejected (bad PromQL in a rule)', async () => {
    const model = modelOf('local');
    const dir = writeMonitoring(model, renderAlertRules(model).replace('sum by (le) (rate(', 'sum by (le) (rate(('));
    const r = await promtool(dir, 'check', 'config', join(dir, 'prometheus.yml'));
    expect(r.code, output(r)).not.toBe(0);
  });
});

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string }[] }[];
}
interface TestFile {
  tests: { name: string }[];
}

/** The rendered rules with one alert's expression replaced. */
function withExpr(model: PlatformModel, alert: string, expr: string): string {
  const rules = parse(renderAlertRules(model)) as RuleFile;
  const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === alert);
  if (!rule) throw new Error(`no alert ${alert}`);
  rule.expr = expr;
  return stringify(rules);
}
/** The rendered rule tests, only those whose name starts with `prefix`. */
function testsStartingWith(model: PlatformModel, prefix: string): string {
  const file = parse(renderAlertRuleTests(model)) as TestFile;
  file.tests = file.tests.filter((t) => t.name.startsWith(prefix));
  if (file.tests.length === 0) throw new Error(`no rule test named ${prefix}…`);
  return stringify(file);
}

describe('the rule tests test something', () => {
  const model = modelOf('local');

  it('raising the SequenceWarning threshold from 0.9 to 0.99 fails promtool test rules', async () => {
    const rules = renderAlertRules(model);
    const mutated = rules.replace(/(numbering_sequence_utilization\{job="numbering"\}\)) > 0\.9$/m, '$1 > 0.99');
    expect(mutated).not.toBe(rules);
    const r = await promtool(writeMonitoring(model, mutated), 'test', 'rules', 'rules.test.yml');
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/name: SequenceWarning fires/);
  });

  // For every alert: its firing cases fail when the rule never fires, its quiet cases fail when it
  // always fires, and both pass with the real rule. So no case passes by accident.
  for (const alert of alertDefinitions(model).map((a) => a.alert)) {
    it(`${alert}: the firing cases need the rule to fire, the quiet cases need it quiet`, async () => {
      const fires = testsStartingWith(model, `${alert} fires:`);
      const quiet = testsStartingWith(model, `${alert} stays quiet:`);
      const real = renderAlertRules(model);
      const never = withExpr(model, alert, 'vector(1) < 0');
      const always = withExpr(model, alert, 'vector(1)');
      const results = await Promise.all([
        promtool(writeMonitoring(model, real, fires), 'test', 'rules', 'rules.test.yml'),
        promtool(writeMonitoring(model, real, quiet), 'test', 'rules', 'rules.test.yml'),
        promtool(writeMonitoring(model, never, fires), 'test', 'rules', 'rules.test.yml'),
        promtool(writeMonitoring(model, always, quiet), 'test', 'rules', 'rules.test.yml'),
      ]);
      const [realFires, realQuiet, neverFires, alwaysQuiet] = results;
      expect(realFires!.code, output(realFires!)).toBe(0);
      expect(realQuiet!.code, output(realQuiet!)).toBe(0);
      expect(neverFires!.code, output(neverFires!)).not.toBe(0);
      expect(alwaysQuiet!.code, output(alwaysQuiet!)).not.toBe(0);
    });
  }
});

interface ScrapeTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
}

describe('a running Prometheus loads the rendered config', () => {
  let prometheus: DaemonProcess | undefined;
  let workdir = '';
  afterAll(async () => {
    await prometheus?.stop('SIGTERM', 10_000);
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it('scrapes each job at the model addresses, relabels the Redis nodes onto the exporter, loads every rule', async () => {
    const bed = await createTestbed();
    workdir = bed.workdir;
    const model = bed.model;
    const m = model.monitoring;
    writeFiles(m.prometheus.configDir, { 'prometheus.yml': renderPrometheusConfig(model), 'rules.yml': renderAlertRules(model) });
    prometheus = startDaemon({
      name: 'prometheus',
      command: 'prometheus',
      args: [`--config.file=${join(m.prometheus.configDir, 'prometheus.yml')}`, `--storage.tsdb.path=${m.prometheus.dataDir}`, `--web.listen-address=${endpointString(m.prometheus)}`],
      logFile: join(workdir, 'logs', 'prometheus.log'),
    });
    const api = `http://${endpointString(m.prometheus)}/api/v1`;
    const targets = async () => ((await (await fetch(`${api}/targets`)).json()) as { data: { activeTargets: ScrapeTarget[] } }).data.activeTargets;
    const expectedTargets = 2 + 2 + model.redis.nodes.length + 1 + 1 + model.postgres.members.length + m.etcdMetrics.length;
    await waitFor(`${expectedTargets} scrape targets`, async () => (await targets()).length === expectedTargets, { timeoutMs: 30_000, logFile: prometheus.logFile });

    const all = await targets();
    const byJob = (job: string) => all.filter((t) => t.labels.job === job);
    expect(byJob('numbering').map((t) => [t.labels.release, t.scrapeUrl]).sort()).toEqual(
      model.service.releases.map((r) => [r.release, `http://127.0.0.1:${r.port}/metrics`]).sort(),
    );
    expect(byJob('redis-cluster').map((t) => [t.labels.node, t.labels.instance, t.scrapeUrl]).sort()).toEqual(
      model.redis.nodes.map((n) => [n.name, `redis://127.0.0.1:${n.port}`, `http://127.0.0.1:${model.redis.exporter.port}/scrape?target=${encodeURIComponent(`redis://127.0.0.1:${n.port}`)}`]).sort(),
    );
    expect(byJob('patroni').map((t) => t.scrapeUrl).sort()).toEqual(model.postgres.members.map((p) => `http://127.0.0.1:${p.restPort}/metrics`).sort());
    expect(byJob('prometheus').map((t) => t.scrapeUrl)).toEqual([`http://${endpointString(m.prometheus)}/metrics`]);

    const rules = ((await (await fetch(`${api}/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } }).data.groups.flatMap((g) => g.rules);
    const expectedRules = (parse(renderAlertRules(model)) as RuleFile).groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual(expectedRules.map((r) => (r as { alert?: string; record?: string }).alert ?? (r as { record?: string }).record).sort());

    await waitFor('the Alertmanager from the config', async () => {
      const am = ((await (await fetch(`${api}/alertmanagers`)).json()) as { data: { activeAlertmanagers: { url: string }[] } }).data.activeAlertmanagers;
      return am.length === 1 && am[0]!.url === `http://${endpointString(m.alertmanager)}/api/v2/alerts`;
    }, { timeoutMs: 15_000 });
  });
});

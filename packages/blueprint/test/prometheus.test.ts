import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  alertDefinitions,
  buildPlatform,
  defaultPlatformConfig,
  expandTemplate,
  humanizeDuration,
  renderAlertRules,
  renderAlertRuleTests,
  renderPrometheusConfig,
  type Target,
} from '../src/index.js';

const modelOf = (target: Target, overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig(target, overrides), { workdir: '/srv/devstack' });

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  relabel_configs?: Record<string, unknown>[];
  kubernetes_sd_configs?: Record<string, unknown>[];
  dns_sd_configs?: { names: string[]; port: number }[];
}
interface PromConfig {
  global: Record<string, string>;
  rule_files: string[];
  alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: ScrapeConfig[];
}
const promConfig = (target: Target, overrides: Record<string, unknown> = {}) => parse(renderPrometheusConfig(modelOf(target, overrides))) as PromConfig;
const job = (config: PromConfig, name: string) => {
  const found = config.scrape_configs.find((s) => s.job_name === name);
  if (!found) throw new Error(`no job ${name} in ${config.scrape_configs.map((s) => s.job_name).join(', ')}`);
  return found;
};
const targetsOf = (s: ScrapeConfig) => s.static_configs!.flatMap((c) => c.targets);

describe('renderPrometheusConfig', () => {
  it('scrapes every component of the devstack at its model address', () => {
    const model = modelOf('local');
    const config = promConfig('local');
    expect(config.rule_files).toEqual(['rules.yml']);
    expect(config.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual([`127.0.0.1:${model.monitoring.alertmanager.port}`]);
    expect(targetsOf(job(config, 'prometheus'))).toEqual([`127.0.0.1:${model.monitoring.prometheus.port}`]);
    expect(job(config, 'numbering').static_configs).toEqual(model.service.releases.map((r) => ({ targets: [`127.0.0.1:${r.port}`], labels: { release: r.release } })));
    expect(targetsOf(job(config, 'mysqld'))).toEqual([`127.0.0.1:${model.mariadb.exporter.port}`]);
    expect(targetsOf(job(config, 'patroni'))).toEqual(model.postgres.members.map((m) => `127.0.0.1:${m.restPort}`));
    expect(targetsOf(job(config, 'etcd'))).toEqual(model.monitoring.etcdMetrics.map((e) => `127.0.0.1:${e.port}`));
  });

  it('reads every Redis node through the exporter multi-target endpoint', () => {
    const model = modelOf('local');
    const redis = job(promConfig('local'), 'redis-cluster');
    expect(redis.metrics_path).toBe('/scrape');
    expect(targetsOf(redis)).toEqual(model.redis.nodes.map((n) => `redis://127.0.0.1:${n.port}`));
    expect(redis.relabel_configs).toContainEqual({ target_label: '__address__', replacement: `127.0.0.1:${model.redis.exporter.port}` });
    expect(redis.relabel_configs).toContainEqual({ source_labels: ['__address__'], target_label: '__param_target' });
  });

  it('follows the port offset of the devstack', () => {
    const shifted = promConfig('local', { 'local.portOffset': 500 });
    const model = modelOf('local', { 'local.portOffset': 500 });
    expect(targetsOf(job(shifted, 'prometheus'))).toEqual([`127.0.0.1:${model.monitoring.prometheus.port}`]);
    expect(model.monitoring.prometheus.port).toBe(9590);
  });

  it('discovers the service pods behind each release Service on Kubernetes and labels their release', () => {
    const config = promConfig('kubernetes');
    const numbering = job(config, 'numbering');
    expect(numbering.kubernetes_sd_configs).toEqual([{ role: 'endpoints', namespaces: { names: ['numbering'] } }]);
    expect(numbering.relabel_configs).toContainEqual({ source_labels: ['__meta_kubernetes_service_name'], regex: 'numbering-canary', target_label: 'release', replacement: 'canary' });
    expect(targetsOf(job(config, 'patroni'))[0]).toBe('postgres-0.postgres.numbering.svc.cluster.local:8008');
    // Kubernetes keeps Patroni's state in the API server: there is no etcd to scrape.
    expect(config.scrape_configs.map((s) => s.job_name)).not.toContain('etcd');
  });

  it('resolves every replica of a release through Docker DNS', () => {
    const numbering = job(promConfig('docker'), 'numbering');
    expect(numbering.dns_sd_configs).toEqual([
      { names: ['numbering-stable'], type: 'A', port: 3000 },
      { names: ['numbering-canary'], type: 'A', port: 3000 },
    ]);
  });

  it('takes the intervals from the config and keeps the scrape timeout within the interval', () => {
    const config = promConfig('local', { 'monitoring.scrapeInterval': '5s', 'monitoring.evaluationInterval': '1s' });
    expect(config.global).toMatchObject({ scrape_interval: '5s', scrape_timeout: '5s', evaluation_interval: '1s' });
    expect(promConfig('local').global.scrape_timeout).toBe('10s');
  });
});

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
}
const rulesOf = (overrides: Record<string, unknown> = {}) => (parse(renderAlertRules(modelOf('local', overrides))) as RuleFile).groups.flatMap((g) => g.rules);

describe('renderAlertRules', () => {
  const ALERTS = [
    'SequenceWarning',
    'SequenceCritical',
    'HighLockWaitTime',
    'HighLockFailureRate',
    'RedisUnavailable',
    'ServiceDown',
    'HighErrorRate',
    'CanaryHighErrorRate',
    'CanaryHighLatency',
    'PostgresFailover',
    'PostgresNoPrimary',
  ];

  it('holds every alert, each with for, a severity, a summary, a description and its runbook', () => {
    const alerts = rulesOf().filter((r) => r.alert);
    expect(alerts.map((a) => a.alert).sort()).toEqual([...ALERTS].sort());
    const runbooks = new Set(['high-sequence-utilization', 'high-lock-wait', 'redis-cluster-down', 'postgres-failover', 'canary-rollback', 'service-down', 'high-error-rate']);
    for (const a of alerts) {
      expect(a.for, a.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      const runbook = /^https:\/\/github\.com\/numbering\/platform\/blob\/main\/docs\/runbooks\/([a-z-]+)\.md$/.exec(a.annotations!.runbook_url!);
      expect(runbook && runbooks.has(runbook[1]!), `${a.alert}: ${a.annotations!.runbook_url}`).toBe(true);
    }
  });

  it('takes every threshold from the monitoring config', () => {
    const rules = rulesOf({
      'monitoring.sequenceWarningRatio': 0.8,
      'monitoring.sequenceCriticalRatio': 0.85,
      'monitoring.lockWaitP95Seconds': 0.25,
      'monitoring.lockFailureRatio': 0.3,
      'monitoring.errorRatio': 0.02,
      'monitoring.canaryErrorDeviationPct': 100,
      'monitoring.canaryLatencyP95Ms': 750,
      'monitoring.runbookBaseUrl': 'https://runbooks.example/numbering/',
    });
    const expr = (name: string) => rules.find((r) => r.alert === name)!.expr;
    expect(expr('SequenceWarning')).toMatch(/\) > 0\.8$/);
    expect(expr('SequenceCritical')).toMatch(/\) > 0\.85$/);
    expect(expr('HighLockWaitTime')).toMatch(/\) > 0\.25$/);
    expect(expr('HighLockFailureRate')).toMatch(/\) > 0\.3$/);
    expect(expr('HighErrorRate')).toMatch(/\) > 0\.02$/);
    expect(expr('CanaryHighErrorRate')).toContain('group_left 2 * release:http_error_ratio:rate5m{release="stable"}');
    expect(expr('CanaryHighLatency')).toContain('* 1000 > 750');
    expect(rules.find((r) => r.alert === 'ServiceDown')!.annotations!.runbook_url).toBe('https://runbooks.example/numbering/service-down.md');
  });

  it('has a firing and a quiet promtool case for every alert', () => {
    const tests = (parse(renderAlertRuleTests(modelOf('local'))) as { rule_files: string[]; tests: { name: string }[] }).tests.map((t) => t.name);
    for (const alert of ALERTS) {
      expect(tests.filter((t) => t.startsWith(`${alert} fires:`)).length, alert).toBeGreaterThan(0);
      expect(tests.filter((t) => t.startsWith(`${alert} stays quiet:`)).length, alert).toBeGreaterThan(0);
    }
    expect(alertDefinitions(modelOf('local')).map((a) => a.alert).sort()).toEqual([...ALERTS].sort());
  });
});

describe('the annotation template subset', () => {
  it("formats like Prometheus' template functions", () => {
    expect(humanizeDuration(1.95)).toBe('1.95s');
    expect(humanizeDuration(0.975)).toBe('975ms');
    expect(humanizeDuration(90.5)).toBe('1m 30s');
    expect(humanizeDuration(0.0000123)).toBe('12.3us');
    expect(expandTemplate('{{ $labels.x }} at {{ $value | humanizePercentage }}', { x: 'INV' }, 0.925)).toBe('INV at 92.5%');
    expect(expandTemplate('{{ $value | printf "%.0f" }} ms', {}, 975.0000001)).toBe('975 ms');
    expect(() => expandTemplate('{{ $value }}', {}, 1)).toThrow(/not supported/);
  });
});

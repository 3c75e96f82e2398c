import { stringify } from 'yaml';
import { endpointString, type Endpoint, type PlatformModel } from '../model.js';
import { ALERT_RULES_FILE } from './alert-rules.js';
import { JOB } from './metrics.js';

export {
  ALERT_RULES_FILE,
  CANARY_MIN_ERROR_RATIO,
  RECORDED,
  alertDefinitions,
  expandTemplate,
  humanizeDuration,
  recordingRules,
  renderAlertRuleTests,
  renderAlertRules,
  runbookUrl,
  type AlertDefinition,
  type Runbook,
  type Severity,
} from './alert-rules.js';
export { JOB, METRIC, RELEASE_LABEL } from './metrics.js';

/** Prometheus' default scrape timeout; it must never exceed the scrape interval. */
const DEFAULT_SCRAPE_TIMEOUT_MS = 10_000;

/** A Prometheus duration as the config schema allows it (`500ms`, `15s`, `1m`), in milliseconds. */
export function durationMs(key: string, duration: string): number {
  const m = /^([0-9]+)(ms|s|m)$/.exec(duration);
  if (!m) throw new Error(`${key}: expected a duration like 500ms, 15s or 1m, got ${JSON.stringify(duration)}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

const formatMs = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

type StaticConfig = { targets: string[]; labels?: Record<string, string> };
const at = (e: Endpoint, labels?: Record<string, string>): StaticConfig => ({ targets: [endpointString(e)], ...(labels ? { labels } : {}) });

/**
 * How Prometheus finds the service's replicas. On Kubernetes each release is a Service with several
 * pods; scraping the Service address would hit a random pod each time, so the endpoints behind it
 * are discovered and labelled with their release. Docker's embedded DNS returns one A record per
 * container of a name, so every replica is scraped. The devstack runs one process per release.
 */
function numberingScrape(model: PlatformModel): Record<string, unknown> {
  const releases = model.service.releases;
  const base = { job_name: JOB.numbering, metrics_path: '/metrics', honor_labels: true };
  // honor_labels: the service labels its HTTP metric with `release` itself; keep that label as it is
  // instead of renaming it to `exported_release` (both say the same).
  if (model.target === 'kubernetes') {
    return {
      ...base,
      kubernetes_sd_configs: [{ role: 'endpoints', namespaces: { names: [model.namespace] } }],
      relabel_configs: [
        { source_labels: ['__meta_kubernetes_service_name'], regex: releases.map((r) => r.name).join('|'), action: 'keep' },
        ...releases.map((r) => ({ source_labels: ['__meta_kubernetes_service_name'], regex: r.name, target_label: 'release', replacement: r.release })),
        { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      ],
    };
  }
  if (model.target === 'docker') {
    return {
      ...base,
      dns_sd_configs: releases.map((r) => ({ names: [r.host], type: 'A', port: r.port })),
      relabel_configs: releases.map((r) => ({ source_labels: ['__meta_dns_name'], regex: r.host, target_label: 'release', replacement: r.release })),
    };
  }
  return { ...base, static_configs: releases.map((r) => at(r, { release: r.release })) };
}

/** prometheus.yml: scrape configs for every component; rule file `rules.yml` beside it. */
export function renderPrometheusConfig(model: PlatformModel): string {
  const mon = model.monitoring;
  const scrapeMs = durationMs('monitoring.scrapeInterval', mon.config.scrapeInterval);
  durationMs('monitoring.evaluationInterval', mon.config.evaluationInterval);
  const redisExporter = endpointString(model.redis.exporter);
  const scrapeConfigs: Record<string, unknown>[] = [
    { job_name: JOB.prometheus, static_configs: [at(mon.prometheus)] },
    { job_name: JOB.alertmanager, static_configs: [at(mon.alertmanager)] },
    numberingScrape(model),
    {
      // One redis-exporter reads every cluster node: /scrape?target=redis://node. The node address
      // becomes the `instance`; the request itself goes to the exporter.
      job_name: JOB.redisCluster,
      metrics_path: '/scrape',
      static_configs: model.redis.nodes.map((n) => ({ targets: [`redis://${endpointString(n)}`], labels: { node: n.name } })),
      relabel_configs: [
        { source_labels: ['__address__'], target_label: '__param_target' },
        { source_labels: ['__param_target'], target_label: 'instance' },
        { target_label: '__address__', replacement: redisExporter },
      ],
    },
    { job_name: JOB.redisExporter, static_configs: [at(model.redis.exporter)] },
    { job_name: JOB.mysqld, static_configs: [at(model.mariadb.exporter)] },
    {
      job_name: JOB.patroni,
      static_configs: model.postgres.members.map((m) => ({ targets: [`${m.host}:${m.restPort}`], labels: { member: m.name } })),
    },
    // The nginx canary is not scraped: stub_status is not in the Prometheus format, it needs an
    // nginx-prometheus-exporter beside nginx; requests per release are counted by the service.
  ];
  if (mon.etcdMetrics.length) scrapeConfigs.push({ job_name: JOB.etcd, static_configs: [{ targets: mon.etcdMetrics.map(endpointString) }] });
  const config = {
    global: {
      scrape_interval: mon.config.scrapeInterval,
      scrape_timeout: formatMs(Math.min(scrapeMs, DEFAULT_SCRAPE_TIMEOUT_MS)),
      evaluation_interval: mon.config.evaluationInterval,
      external_labels: { platform: model.namespace, target: model.target },
    },
    rule_files: [ALERT_RULES_FILE],
    alerting: { alertmanagers: [{ static_configs: [at(mon.alertmanager)] }] },
    scrape_configs: scrapeConfigs,
  };
  return `# Rendered by @numbering/blueprint for target ${model.target}. ${ALERT_RULES_FILE} lies beside this file.\n${stringify(config, { lineWidth: 0 })}`;
}

import { ALERT_RULES_FILE, grafanaDashboards, type PlatformModel } from '@numbering/blueprint';

/** Where the monitoring containers find their rendered files (same on both targets). */
export const MONITORING_PATHS = {
  prometheusConfig: (model: PlatformModel) => `${model.monitoring.prometheus.configDir}/prometheus.yml`,
  /** prometheus.yml names the rule file relative to itself. */
  prometheusRules: (model: PlatformModel) => `${model.monitoring.prometheus.configDir}/${ALERT_RULES_FILE}`,
  alertmanagerDir: '/etc/alertmanager',
  alertmanagerConfig: '/etc/alertmanager/alertmanager.yml',
  grafanaDatasources: '/etc/grafana/provisioning/datasources/prometheus.yml',
  grafanaDashboardProvider: '/etc/grafana/provisioning/dashboards/numbering.yml',
  /** Outside Grafana's data volume, so a new dashboard version replaces the file rather than fighting a copy in the volume. */
  grafanaDashboards: '/etc/grafana/dashboards',
  grafanaAdminPasswordFile: '/run/secrets/grafana/admin-password',
} as const;

export function prometheusArgs(model: PlatformModel): string[] {
  const p = model.monitoring.prometheus;
  return [
    `--config.file=${MONITORING_PATHS.prometheusConfig(model)}`,
    `--storage.tsdb.path=${p.dataDir}`,
    `--storage.tsdb.retention.time=${model.monitoring.config.retention}`,
    `--web.listen-address=:${p.port}`,
    // POST /-/reload after a config change without restarting (and losing the WAL replay time).
    '--web.enable-lifecycle',
  ];
}

export function alertmanagerArgs(model: PlatformModel): string[] {
  const a = model.monitoring.alertmanager;
  return [
    `--config.file=${MONITORING_PATHS.alertmanagerConfig}`,
    `--storage.path=${a.dataDir}`,
    `--web.listen-address=:${a.port}`,
    // A single Alertmanager: no gossip cluster to form (and no warning about a missing peer).
    '--cluster.listen-address=',
  ];
}

/** Grafana's settings as GF_* variables; the admin password comes from a file, never from the environment. */
export function grafanaEnv(model: PlatformModel): Record<string, string> {
  return {
    GF_SERVER_HTTP_PORT: String(model.monitoring.grafana.port),
    GF_SECURITY_ADMIN_USER: 'admin',
    GF_SECURITY_ADMIN_PASSWORD__FILE: MONITORING_PATHS.grafanaAdminPasswordFile,
    GF_USERS_ALLOW_SIGN_UP: 'false',
    GF_AUTH_ANONYMOUS_ENABLED: 'false',
    GF_ANALYTICS_REPORTING_ENABLED: 'false',
    GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
  };
}

/** The dashboards as files: name -> JSON text (the blueprint returns dashboard models as objects). */
export function grafanaDashboardFiles(model: PlatformModel): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, dashboard] of Object.entries(grafanaDashboards(model))) {
    const file = name.endsWith('.json') ? name : `${name}.json`;
    files[file] = `${JSON.stringify(dashboard, null, 2)}\n`;
  }
  return files;
}

export const MONITORING_HEALTH = {
  prometheus: { live: '/-/healthy', ready: '/-/ready' },
  alertmanager: { live: '/-/healthy', ready: '/-/ready' },
  grafana: { live: '/api/health', ready: '/api/health' },
} as const;

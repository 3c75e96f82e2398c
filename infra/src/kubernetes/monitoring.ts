import { basename, dirname } from 'node:path/posix';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { renderAlertmanagerConfig, renderAlertRules, renderGrafanaDashboardProvider, renderGrafanaDatasources, renderPrometheusConfig, type PlatformSecrets } from '@numbering/blueprint';
import { checksum } from '../shared/checksum.js';
import { alertmanagerArgs, grafanaDashboardFiles, grafanaEnv, MONITORING_HEALTH, MONITORING_PATHS, prometheusArgs } from '../shared/monitoring.js';
import {
  clusterService,
  configMap,
  deployment,
  httpProbe,
  image,
  longRunning,
  metadata,
  podSecurity,
  resources,
  secret,
  selectorLabels,
  tmpVolume,
  type KubernetesComponentArgs,
} from './common.js';
import { MONITORING_STORAGE } from './sizing.js';

export interface KubernetesMonitoringArgs extends KubernetesComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
  grafanaAdminPassword: pulumi.Output<string>;
}

const NOBODY = 65534;
/** The Grafana image's grafana user. */
const GRAFANA_UID = 472;

/**
 * Prometheus reads the service's endpoints through the Kubernetes API (kubernetes_sd role endpoints,
 * in this namespace only): a Role, not a ClusterRole.
 */
export const PROMETHEUS_RBAC_RULES: k8s.types.input.rbac.v1.PolicyRule[] = [
  { apiGroups: [''], resources: ['endpoints', 'services', 'pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
];

/**
 * Prometheus (rendered scrape config and rules), Alertmanager (receivers from secret stack config),
 * Grafana with provisioned datasource and dashboards. Each pod template carries the checksum of its
 * files, so `pulumi up` after a rule or dashboard change rolls exactly the pods that read them.
 */
export class KubernetesMonitoring extends pulumi.ComponentResource {
  readonly prometheus: k8s.apps.v1.Deployment;
  readonly alertmanager: k8s.apps.v1.Deployment;
  readonly grafana: k8s.apps.v1.Deployment;
  readonly endpoints: pulumi.Output<{ prometheus: string; alertmanager: string; grafana: string }>;

  constructor(name: string, args: KubernetesMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:monitoring:Monitoring', name, {}, opts);
    const { model, secrets, namespace } = args;
    const mon = model.monitoring;
    const cfg = mon.config;

    // --- Prometheus ---
    const account = new k8s.core.v1.ServiceAccount('prometheus', { metadata: metadata('prometheus', 'monitoring', namespace) }, { parent: this });
    const role = new k8s.rbac.v1.Role('prometheus', { metadata: metadata('prometheus', 'monitoring', namespace), rules: PROMETHEUS_RBAC_RULES }, { parent: this });
    const binding = new k8s.rbac.v1.RoleBinding(
      'prometheus',
      {
        metadata: metadata('prometheus', 'monitoring', namespace),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace }],
      },
      { parent: this },
    );
    const promFiles = { [basename(MONITORING_PATHS.prometheusConfig(model))]: renderPrometheusConfig(model), [basename(MONITORING_PATHS.prometheusRules(model))]: renderAlertRules(model) };
    const promMap = configMap('prometheus-config', 'monitoring', namespace, promFiles, this);
    const promData = new k8s.core.v1.PersistentVolumeClaim(
      'prometheus-data',
      { metadata: metadata('prometheus-data', 'monitoring', namespace), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: MONITORING_STORAGE.prometheus } } } },
      { parent: this },
    );
    const promSelector = selectorLabels('prometheus');
    this.prometheus = deployment(
      'prometheus',
      'monitoring',
      namespace,
      {
        replicas: 1,
        selector: promSelector,
        // One writer on a ReadWriteOnce volume: the old pod must release it before the new one starts.
        rollout: 'recreate',
        annotations: { 'checksum/config': checksum(...Object.values(promFiles)) },
        podSecurity: podSecurity(NOBODY),
        pod: {
          serviceAccountName: account.metadata.name,
          containers: [
            longRunning({
              name: 'prometheus',
              image: image('monitoring.prometheusImage', cfg.prometheusImage),
              args: prometheusArgs(model),
              ports: [{ name: 'http', containerPort: mon.prometheus.port }],
              volumeMounts: [
                { name: 'config', mountPath: mon.prometheus.configDir, readOnly: true },
                { name: 'data', mountPath: mon.prometheus.dataDir },
              ],
              readinessProbe: httpProbe(mon.prometheus.port, MONITORING_HEALTH.prometheus.ready),
              livenessProbe: httpProbe(mon.prometheus.port, MONITORING_HEALTH.prometheus.live, { failureThreshold: 6 }),
              startupProbe: httpProbe(mon.prometheus.port, MONITORING_HEALTH.prometheus.ready, { failureThreshold: 60 }),
              resources: resources('200m', '512Mi', '2Gi'),
            }),
          ],
          volumes: [
            { name: 'config', configMap: { name: promMap.metadata.name } },
            { name: 'data', persistentVolumeClaim: { claimName: promData.metadata.name } },
          ],
        },
      },
      this,
      { dependsOn: [binding] },
    );
    clusterService('prometheus', 'monitoring', namespace, promSelector, [{ name: 'http', port: mon.prometheus.port }], this);

    // --- Alertmanager ---
    const amConfig = secrets.apply((s) => renderAlertmanagerConfig(model, s.alerting));
    const amSecret = secret('alertmanager-config', 'monitoring', namespace, amConfig.apply((c) => ({ [basename(MONITORING_PATHS.alertmanagerConfig)]: c })), this);
    const amData = new k8s.core.v1.PersistentVolumeClaim(
      'alertmanager-data',
      { metadata: metadata('alertmanager-data', 'monitoring', namespace), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: MONITORING_STORAGE.alertmanager } } } },
      { parent: this },
    );
    const amSelector = selectorLabels('alertmanager');
    this.alertmanager = deployment(
      'alertmanager',
      'monitoring',
      namespace,
      {
        replicas: 1,
        selector: amSelector,
        rollout: 'recreate',
        annotations: { 'checksum/config': pulumi.unsecret(amConfig.apply((c) => checksum(c))) },
        podSecurity: podSecurity(NOBODY),
        pod: {
          containers: [
            longRunning({
              name: 'alertmanager',
              image: image('monitoring.alertmanagerImage', cfg.alertmanagerImage),
              args: alertmanagerArgs(model),
              ports: [{ name: 'http', containerPort: mon.alertmanager.port }],
              volumeMounts: [
                { name: 'config', mountPath: MONITORING_PATHS.alertmanagerDir, readOnly: true },
                { name: 'data', mountPath: mon.alertmanager.dataDir },
              ],
              readinessProbe: httpProbe(mon.alertmanager.port, MONITORING_HEALTH.alertmanager.ready),
              livenessProbe: httpProbe(mon.alertmanager.port, MONITORING_HEALTH.alertmanager.live),
              resources: resources('20m', '64Mi', '256Mi'),
            }),
          ],
          volumes: [
            { name: 'config', secret: { secretName: amSecret.metadata.name, defaultMode: 0o440 } },
            { name: 'data', persistentVolumeClaim: { claimName: amData.metadata.name } },
          ],
        },
      },
      this,
    );
    clusterService('alertmanager', 'monitoring', namespace, amSelector, [{ name: 'http', port: mon.alertmanager.port }], this);

    // --- Grafana: stateless; everything it shows is provisioned from these files ---
    const provisioning = {
      datasources: renderGrafanaDatasources(model),
      dashboardProvider: renderGrafanaDashboardProvider(MONITORING_PATHS.grafanaDashboards),
    };
    const dashboards = grafanaDashboardFiles(model);
    const datasourcesMap = configMap('grafana-datasources', 'monitoring', namespace, { [basename(MONITORING_PATHS.grafanaDatasources)]: provisioning.datasources }, this);
    const providerMap = configMap('grafana-dashboard-provider', 'monitoring', namespace, { [basename(MONITORING_PATHS.grafanaDashboardProvider)]: provisioning.dashboardProvider }, this);
    const dashboardsMap = configMap('grafana-dashboards', 'monitoring', namespace, dashboards, this);
    const admin = secret('grafana-admin', 'monitoring', namespace, args.grafanaAdminPassword.apply((p) => ({ [basename(MONITORING_PATHS.grafanaAdminPasswordFile)]: p })), this);
    const grafanaSelector = selectorLabels('grafana');
    this.grafana = deployment(
      'grafana',
      'monitoring',
      namespace,
      {
        replicas: 1,
        selector: grafanaSelector,
        annotations: { 'checksum/config': checksum(provisioning.datasources, provisioning.dashboardProvider, ...Object.keys(dashboards).sort().map((k) => dashboards[k]!)) },
        podSecurity: podSecurity(GRAFANA_UID),
        pod: {
          containers: [
            longRunning({
              name: 'grafana',
              image: image('monitoring.grafanaImage', cfg.grafanaImage),
              env: Object.entries(grafanaEnv(model)).map(([name, value]) => ({ name, value })),
              ports: [{ name: 'http', containerPort: mon.grafana.port }],
              volumeMounts: [
                { name: 'datasources', mountPath: dirname(MONITORING_PATHS.grafanaDatasources), readOnly: true },
                { name: 'dashboard-provider', mountPath: dirname(MONITORING_PATHS.grafanaDashboardProvider), readOnly: true },
                { name: 'dashboards', mountPath: MONITORING_PATHS.grafanaDashboards, readOnly: true },
                { name: 'admin', mountPath: dirname(MONITORING_PATHS.grafanaAdminPasswordFile), readOnly: true },
                { name: 'data', mountPath: '/var/lib/grafana' },
                { name: 'logs', mountPath: '/var/log/grafana' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              readinessProbe: httpProbe(mon.grafana.port, MONITORING_HEALTH.grafana.ready),
              livenessProbe: httpProbe(mon.grafana.port, MONITORING_HEALTH.grafana.live, { initialDelaySeconds: 30 }),
              resources: resources('50m', '128Mi', '512Mi'),
            }),
          ],
          volumes: [
            { name: 'datasources', configMap: { name: datasourcesMap.metadata.name } },
            { name: 'dashboard-provider', configMap: { name: providerMap.metadata.name } },
            { name: 'dashboards', configMap: { name: dashboardsMap.metadata.name } },
            { name: 'admin', secret: { secretName: admin.metadata.name, defaultMode: 0o440 } },
            { name: 'data', emptyDir: { sizeLimit: '1Gi' } },
            { name: 'logs', emptyDir: { sizeLimit: '256Mi' } },
            tmpVolume(),
          ],
        },
      },
      this,
      { dependsOn: [this.prometheus] },
    );
    clusterService('grafana', 'monitoring', namespace, grafanaSelector, [{ name: 'http', port: mon.grafana.port }], this);

    const url = (e: { host: string; port: number }) => `http://${e.host}:${e.port}`;
    this.endpoints = pulumi.output({ prometheus: url(mon.prometheus), alertmanager: url(mon.alertmanager), grafana: url(mon.grafana) });
    this.registerOutputs({ endpoints: this.endpoints });
  }
}

import type * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { renderAlertmanagerConfig, renderAlertRules, renderGrafanaDashboardProvider, renderGrafanaDatasources, renderPrometheusConfig, type PlatformSecrets } from '@numbering/blueprint';
import { alertmanagerArgs, grafanaDashboardFiles, grafanaEnv, MONITORING_HEALTH, MONITORING_PATHS, prometheusArgs } from '../shared/monitoring.js';
import { envList, ImagePuller, platformContainer, platformVolume, wgetHealthcheck, type DockerComponentArgs } from './common.js';

export interface DockerMonitoringArgs extends DockerComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
  grafanaAdminPassword: pulumi.Output<string>;
  /** Publish Prometheus, Alertmanager and Grafana on the Docker host's 127.0.0.1 at their container ports. */
  publish: boolean;
}

/**
 * Prometheus (scrape config and alert rules), Alertmanager (receivers from secret stack config) and
 * Grafana with its datasource and dashboards provisioned from files: nothing is clicked together.
 */
export class DockerMonitoring extends pulumi.ComponentResource {
  readonly prometheus: docker.Container;
  readonly alertmanager: docker.Container;
  readonly grafana: docker.Container;
  readonly endpoints: pulumi.Output<{ prometheus: string; alertmanager: string; grafana: string }>;

  constructor(name: string, args: DockerMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:monitoring:Monitoring', name, {}, opts);
    const { model, secrets } = args;
    const mon = model.monitoring;
    const cfg = mon.config;
    const images = new ImagePuller(this);
    const publish = (port: number) => (args.publish ? [{ internal: port, external: port }] : undefined);

    this.prometheus = platformContainer(
      {
        name: 'prometheus',
        component: 'monitoring',
        image: images.image('monitoring.prometheusImage', cfg.prometheusImage),
        command: prometheusArgs(model),
        uploads: [
          { file: MONITORING_PATHS.prometheusConfig(model), content: renderPrometheusConfig(model) },
          { file: MONITORING_PATHS.prometheusRules(model), content: renderAlertRules(model) },
        ],
        volumes: [{ volume: platformVolume('prometheus-data', args.docker, this), path: mon.prometheus.dataDir }],
        healthcheck: wgetHealthcheck(`http://127.0.0.1:${mon.prometheus.port}${MONITORING_HEALTH.prometheus.ready}`),
        publish: publish(mon.prometheus.port),
      },
      args.docker,
      { parent: this },
    );

    this.alertmanager = platformContainer(
      {
        name: 'alertmanager',
        component: 'monitoring',
        image: images.image('monitoring.alertmanagerImage', cfg.alertmanagerImage),
        command: alertmanagerArgs(model),
        // Holds the receivers' webhook URLs and keys: rendered inside apply on the secrets, so it stays secret.
        uploads: [{ file: MONITORING_PATHS.alertmanagerConfig, content: secrets.apply((s) => renderAlertmanagerConfig(model, s.alerting)) }],
        volumes: [{ volume: platformVolume('alertmanager-data', args.docker, this), path: mon.alertmanager.dataDir }],
        healthcheck: wgetHealthcheck(`http://127.0.0.1:${mon.alertmanager.port}${MONITORING_HEALTH.alertmanager.ready}`),
        publish: publish(mon.alertmanager.port),
      },
      args.docker,
      { parent: this },
    );

    const dashboards = grafanaDashboardFiles(model);
    this.grafana = platformContainer(
      {
        name: 'grafana',
        component: 'monitoring',
        image: images.image('monitoring.grafanaImage', cfg.grafanaImage),
        envs: envList(grafanaEnv(model)),
        uploads: [
          { file: MONITORING_PATHS.grafanaDatasources, content: renderGrafanaDatasources(model) },
          { file: MONITORING_PATHS.grafanaDashboardProvider, content: renderGrafanaDashboardProvider(MONITORING_PATHS.grafanaDashboards) },
          ...Object.entries(dashboards).map(([file, content]) => ({ file: `${MONITORING_PATHS.grafanaDashboards}/${file}`, content })),
          { file: MONITORING_PATHS.grafanaAdminPasswordFile, content: args.grafanaAdminPassword },
        ],
        volumes: [{ volume: platformVolume('grafana-data', args.docker, this), path: '/var/lib/grafana' }],
        healthcheck: wgetHealthcheck(`http://127.0.0.1:${mon.grafana.port}${MONITORING_HEALTH.grafana.ready}`),
        publish: publish(mon.grafana.port),
      },
      args.docker,
      { parent: this, dependsOn: [this.prometheus] },
    );

    const local = (port: number) => `http://127.0.0.1:${port}`;
    this.endpoints = pulumi.output({ prometheus: local(mon.prometheus.port), alertmanager: local(mon.alertmanager.port), grafana: local(mon.grafana.port) });
    this.registerOutputs({ endpoints: this.endpoints });
  }
}

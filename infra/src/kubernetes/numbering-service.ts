import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { endpointString, migrationEnvironment, serviceEnvironment, type PlatformSecrets, type ServiceRelease } from '@numbering/blueprint';
import { checksum } from '../shared/checksum.js';
import { MIGRATE_COMMAND, migrationRelease, releaseImages, SERVICE_HEALTH } from '../shared/service.js';
import {
  clusterService,
  containerSecurity,
  deployment,
  disruptionBudget,
  drainBeforeStop,
  httpProbe,
  longRunning,
  metadata,
  podLabels,
  podSecurity,
  resources,
  secret,
  selectorLabels,
  tmpVolume,
  type KubernetesComponentArgs,
} from './common.js';

export interface KubernetesNumberingServiceArgs extends KubernetesComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
  /** MariaDB and the formed Redis Cluster: migrations and pods start after them. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** The service image's non-root user (the `node` user of the official Node.js images). */
export const SERVICE_UID = 1000;
/** The HPA's target: average CPU of the stable pods, in percent of their request. */
export const HPA_CPU_UTILIZATION = 70;

/**
 * The numbering service on Kubernetes, per release (stable, canary): a Secret with its environment
 * (from `serviceEnvironment`), a Deployment with probes on /health (liveness) and /health/ready
 * (readiness), a Service named as the model says (`numbering-stable`, `numbering-canary`), and a
 * disruption budget. The stable release scales with an HPA; migrations run once per canary version.
 * Images are pulled from `service.image` (a registry); CI pushes them (see infra/README.md).
 */
export class KubernetesNumberingService extends pulumi.ComponentResource {
  readonly migration: k8s.batch.v1.Job;
  readonly deployments: Record<'stable' | 'canary', k8s.apps.v1.Deployment>;
  readonly services: Record<'stable' | 'canary', k8s.core.v1.Service>;
  readonly autoscaler: k8s.autoscaling.v2.HorizontalPodAutoscaler;
  readonly endpoints: pulumi.Output<Record<'stable' | 'canary', string>>;

  constructor(name: string, args: KubernetesNumberingServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:service:NumberingService', name, {}, opts);
    const { model, secrets, namespace } = args;
    releaseImages(model);

    const migrator = migrationRelease(model);
    const migrationEnv = secret('numbering-migrate-env', 'service', namespace, secrets.apply((s) => migrationEnvironment(model, s)), this);
    const migrateSelector = selectorLabels('numbering-migrate');
    this.migration = new k8s.batch.v1.Job(
      'numbering-migrate',
      {
        metadata: metadata('numbering-migrate', 'service', namespace, { labels: { 'numbering.io/version': migrator.version } }),
        spec: {
          backoffLimit: 4,
          activeDeadlineSeconds: 600,
          template: {
            metadata: { labels: podLabels('numbering-migrate', 'service', migrateSelector) },
            spec: {
              restartPolicy: 'OnFailure',
              securityContext: podSecurity(SERVICE_UID),
              enableServiceLinks: false,
              containers: [
                {
                  name: 'migrate',
                  image: migrator.image,
                  command: MIGRATE_COMMAND,
                  envFrom: [{ secretRef: { name: migrationEnv.metadata.name } }],
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                  securityContext: containerSecurity(),
                  resources: resources('100m', '64Mi', '256Mi'),
                },
              ],
              volumes: [tmpVolume()],
            },
          },
        },
      },
      { parent: this, dependsOn: args.dependsOn },
    );

    const release = (r: ServiceRelease) => {
      const selector = selectorLabels('numbering', { 'numbering.io/release': r.release });
      const envValues = secrets.apply((s) => serviceEnvironment(model, r, s));
      const env = secret(`${r.name}-env`, 'service', namespace, envValues, this);
      const stable = r.release === 'stable';
      const workload = deployment(
        r.name,
        'service',
        namespace,
        {
          labels: { 'numbering.io/release': r.release, 'numbering.io/version': r.version },
          // The stable release's replica count belongs to its HPA; setting it here would reset it on every `pulumi up`.
          ...(stable ? {} : { replicas: model.service.replicas }),
          selector,
          rollout: 'surge',
          // Both releases are pods of the one app `numbering`; the release label tells them apart.
          podLabels: { ...podLabels('numbering', 'service', selector), 'numbering.io/version': r.version },
          annotations: { 'checksum/env': pulumi.unsecret(envValues.apply((e) => checksum(JSON.stringify(e)))) },
          podSecurity: podSecurity(SERVICE_UID),
          spreadOverNodes: true,
          pod: {
            terminationGracePeriodSeconds: 30,
            containers: [
              longRunning({
                name: 'numbering',
                image: r.image,
                envFrom: [{ secretRef: { name: env.metadata.name } }],
                ports: [{ name: 'http', containerPort: r.port }],
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                startupProbe: httpProbe(r.port, SERVICE_HEALTH.live, { periodSeconds: 2, failureThreshold: 30 }),
                readinessProbe: httpProbe(r.port, SERVICE_HEALTH.ready, { periodSeconds: 5 }),
                livenessProbe: httpProbe(r.port, SERVICE_HEALTH.live),
                lifecycle: drainBeforeStop,
                resources: resources('200m', '128Mi', '384Mi'),
              }),
            ],
            volumes: [tmpVolume()],
          },
        },
        this,
        { dependsOn: [this.migration] },
      );
      const service = clusterService(r.name, 'service', namespace, selector, [{ name: 'http', port: r.port }], this);
      disruptionBudget(r.name, 'service', namespace, selector, { maxUnavailable: 1 }, this);
      return { deployment: workload, service };
    };
    const [stable, canary] = model.service.releases;
    const s = release(stable);
    const c = release(canary);
    this.deployments = { stable: s.deployment, canary: c.deployment };
    this.services = { stable: s.service, canary: c.service };

    this.autoscaler = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      stable.name,
      {
        metadata: metadata(stable.name, 'service', namespace),
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: s.deployment.metadata.name },
          minReplicas: model.service.replicas,
          maxReplicas: model.service.maxReplicas,
          metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: HPA_CPU_UTILIZATION } } }],
          // Scale up at once on load, down slowly: a counter's lock holder should not be evicted by flapping.
          behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
        },
      },
      { parent: this },
    );

    this.endpoints = pulumi.output({ stable: endpointString(stable), canary: endpointString(canary) });
    this.registerOutputs({ endpoints: this.endpoints });
  }
}

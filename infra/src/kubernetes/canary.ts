import { basename } from 'node:path/posix';
import type * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { canaryNginxConfig, NGINX_HEALTH_PATH, nginxCommand, nginxConfPath } from '../shared/canary.js';
import {
  clusterService,
  configMap,
  deployment,
  disruptionBudget,
  drainBeforeStop,
  httpProbe,
  image,
  longRunning,
  podSecurity,
  resources,
  selectorLabels,
  tmpVolume,
  type KubernetesComponentArgs,
} from './common.js';

export interface KubernetesCanaryArgs extends KubernetesComponentArgs {
  /** nginx pods; at least 2 so a rollout (maxUnavailable 0) always has one serving. */
  replicas: number;
  /** The service Deployments nginx proxies to (nginx resolves upstream names at start). */
  upstreams: pulumi.Input<pulumi.Resource>[];
}

/** The nginx image's nginx user. */
const NGINX_UID = 101;
/** The port the platform's entry Service listens on (nginx itself listens on model.canary.listen.port, unprivileged). */
export const CANARY_SERVICE_PORT = 80;

/**
 * The canary split on Kubernetes: our own nginx Deployment (ingress-nginx is retired) with the
 * rendered weighted upstream in a ConfigMap. The pod template carries the ConfigMap's checksum, so a
 * weight change is a rolling update: new pods (new weight) become ready before old ones stop, and
 * stopping pods keep serving until the Service stops routing to them.
 */
export class KubernetesCanary extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly configChecksum: string;
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: KubernetesCanaryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:canary:Nginx', name, {}, opts);
    const { model, namespace } = args;
    const c = model.canary;
    const { conf, checksum } = canaryNginxConfig(model);
    this.configChecksum = checksum;
    const confFile = basename(nginxConfPath(model));
    const confMap = configMap('nginx-config', 'canary', namespace, { [confFile]: conf }, this);
    const selector = selectorLabels('nginx');

    this.deployment = deployment(
      'nginx',
      'canary',
      namespace,
      {
        replicas: Math.max(2, args.replicas),
        selector,
        rollout: 'surge',
        minReadySeconds: 5,
        annotations: { 'checksum/config': checksum, 'numbering.io/canary-weight': String(c.weight) },
        podSecurity: podSecurity(NGINX_UID),
        spreadOverNodes: true,
        pod: {
          containers: [
            longRunning({
              name: 'nginx',
              image: image('service.nginxImage', c.image),
              command: nginxCommand(model),
              ports: [{ name: 'http', containerPort: c.listen.port }],
              volumeMounts: [
                { name: 'config', mountPath: nginxConfPath(model), subPath: confFile, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              readinessProbe: httpProbe(c.listen.port, NGINX_HEALTH_PATH, { periodSeconds: 5 }),
              livenessProbe: httpProbe(c.listen.port, NGINX_HEALTH_PATH),
              lifecycle: drainBeforeStop,
              resources: resources('50m', '32Mi', '128Mi'),
            }),
          ],
          volumes: [{ name: 'config', configMap: { name: confMap.metadata.name } }, tmpVolume()],
        },
      },
      this,
      { dependsOn: args.upstreams },
    );
    this.service = clusterService('nginx', 'canary', namespace, selector, [{ name: 'http', port: CANARY_SERVICE_PORT, targetPort: c.listen.port }], this);
    disruptionBudget('nginx', 'canary', namespace, selector, { minAvailable: 1 }, this);

    this.endpoint = pulumi.interpolate`http://nginx.${namespace}.svc.cluster.local:${CANARY_SERVICE_PORT}`;
    this.registerOutputs({ endpoint: this.endpoint, configChecksum: checksum });
  }
}

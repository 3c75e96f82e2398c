import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { endpointString, exampleSecrets, redisClusterCreateArgs, renderRedisAcl, renderRedisConf, type PlatformSecrets } from '@numbering/blueprint';
import { checksum } from '../shared/checksum.js';
import { EXPORTER_HEALTH_PATH, redisExporterEnv } from '../shared/exporters.js';
import { REDIS_CLUSTER_INIT_NAME, REDIS_CLUSTER_INIT_SCRIPT } from '../shared/redis-cluster-init.js';
import {
  containerSecurity,
  deployment,
  disruptionBudget,
  execProbe,
  headlessService,
  clusterService,
  httpProbe,
  image,
  longRunning,
  metadata,
  POD_NAME_ENV,
  podLabels,
  podSecurity,
  resources,
  secret,
  secretEnv,
  selectorLabels,
  spreadOverNodes,
  tcpProbe,
  tmpVolume,
  type KubernetesComponentArgs,
  backupVolume,
} from './common.js';
import { redisBackupStorage, redisSize } from './sizing.js';

export interface KubernetesRedisClusterArgs extends KubernetesComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
}

/** The official image's redis user. */
const REDIS_UID = 999;
/** redis_exporter's image user. */
const EXPORTER_UID = 59000;
const CONF_DIR = '/etc/redis';

/**
 * The init Job's arguments name the admin password as `$(REDIS_ADMIN_PASSWORD)`: Kubernetes expands it
 * from the container's environment (a secretKeyRef), so the Job object itself holds no secret.
 */
export const REDIS_ADMIN_PASSWORD_ENV = 'REDIS_ADMIN_PASSWORD';

/**
 * Redis Cluster on Kubernetes: one StatefulSet (a pod and a volume per model node) behind a headless
 * Service whose per-pod names the nodes announce (`cluster-announce-hostname`), so a pod that comes
 * back with a new IP keeps its identity; a Job that forms the cluster once; redis-exporter.
 */
export class KubernetesRedisCluster extends pulumi.ComponentResource {
  readonly statefulSet: k8s.apps.v1.StatefulSet;
  readonly clusterInit: k8s.batch.v1.Job;
  readonly exporter: k8s.apps.v1.Deployment;
  /** `admin` (cluster init, `ops backup redis`) and `exporter`, read as secretKeyRefs. */
  readonly credentials: k8s.core.v1.Secret;
  /** The PVC `redis-backups`, mounted by the `ops backup redis` CronJob. */
  readonly backupVolume: k8s.core.v1.PersistentVolumeClaim;
  readonly endpoints: pulumi.Output<string[]>;

  constructor(name: string, args: KubernetesRedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:redis:Cluster', name, {}, opts);
    const { model, secrets, namespace } = args;
    const r = model.redis;
    const size = redisSize(model.config);
    const selector = selectorLabels('redis');

    // Every node's redis.conf differs (its announce hostname); each pod mounts its own by pod name.
    const files = secrets.apply(
      (s): Record<string, string> => ({
        ...Object.fromEntries(r.nodes.map((node) => [`${node.name}.conf`, renderRedisConf(model, node, s)])),
        'users.acl': renderRedisAcl(model, s),
      }),
    );
    const config = secret('redis-config', 'redis', namespace, files, this);
    const credentials = secret('redis-credentials', 'redis', namespace, secrets.apply((s) => ({ admin: s.redis.admin, exporter: s.redis.exporter })), this);
    this.credentials = credentials;
    // A hash of files holding 190-bit random passwords reveals nothing about them; kept plain so a
    // preview shows that the pods roll instead of hiding the whole pod template behind [secret].
    const configChecksum = pulumi.unsecret(files.apply((f) => checksum(...Object.keys(f).sort().map((k) => `${k}\n${f[k]}`))));

    const service = headlessService('redis', 'redis', namespace, selector, [{ name: 'redis', port: r.nodes[0]!.port }, { name: 'cluster-bus', port: r.nodes[0]!.busPort }], true, this);

    this.statefulSet = new k8s.apps.v1.StatefulSet(
      'redis',
      {
        metadata: metadata('redis', 'redis', namespace),
        spec: {
          serviceName: service.metadata.name,
          replicas: r.nodes.length,
          // Cluster nodes do not depend on each other's start order; the init Job waits for all of them.
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: podLabels('redis', 'redis', selector), annotations: { 'checksum/config': configChecksum } },
            spec: {
              securityContext: podSecurity(REDIS_UID),
              affinity: spreadOverNodes(selector),
              enableServiceLinks: false,
              containers: [
                longRunning({
                  name: 'redis',
                  image: image('redis.image', r.image),
                  command: ['redis-server', `${CONF_DIR}/redis.conf`],
                  env: [POD_NAME_ENV],
                  ports: [
                    { name: 'redis', containerPort: r.nodes[0]!.port },
                    { name: 'cluster-bus', containerPort: r.nodes[0]!.busPort },
                  ],
                  volumeMounts: [
                    { name: 'data', mountPath: r.nodes[0]!.dir },
                    { name: 'config', mountPath: `${CONF_DIR}/redis.conf`, subPathExpr: '$(POD_NAME).conf', readOnly: true },
                    { name: 'config', mountPath: r.aclFile, subPath: 'users.acl', readOnly: true },
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                  // NOAUTH (the default user is off) still proves the server answers commands.
                  readinessProbe: execProbe(['sh', '-c', `redis-cli -p ${r.nodes[0]!.port} ping 2>&1 | grep -qE 'PONG|NOAUTH'`]),
                  livenessProbe: tcpProbe(r.nodes[0]!.port, { initialDelaySeconds: 15, failureThreshold: 6 }),
                  resources: resources(size.cpuRequest, size.memoryRequest, size.memoryLimit),
                }),
              ],
              volumes: [{ name: 'config', secret: { secretName: config.metadata.name, defaultMode: 0o440 } }, tmpVolume()],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size.storage } } } }],
        },
      },
      { parent: this },
    );
    disruptionBudget('redis', 'redis', namespace, selector, { maxUnavailable: 1 }, this);

    const placeholder: PlatformSecrets = { ...exampleSecrets(), redis: { ...exampleSecrets().redis, admin: `$(${REDIS_ADMIN_PASSWORD_ENV})` } };
    const initSelector = selectorLabels(REDIS_CLUSTER_INIT_NAME);
    this.clusterInit = new k8s.batch.v1.Job(
      REDIS_CLUSTER_INIT_NAME,
      {
        metadata: metadata(REDIS_CLUSTER_INIT_NAME, 'redis', namespace),
        spec: {
          backoffLimit: 6,
          activeDeadlineSeconds: 900,
          template: {
            metadata: { labels: podLabels(REDIS_CLUSTER_INIT_NAME, 'redis', initSelector) },
            spec: {
              restartPolicy: 'OnFailure',
              securityContext: podSecurity(REDIS_UID),
              enableServiceLinks: false,
              containers: [
                {
                  name: 'cluster-init',
                  image: image('redis.image', r.image),
                  command: ['sh', '-c', REDIS_CLUSTER_INIT_SCRIPT, REDIS_CLUSTER_INIT_NAME],
                  args: redisClusterCreateArgs(model, placeholder),
                  env: [secretEnv(REDIS_ADMIN_PASSWORD_ENV, credentials.metadata.name, 'admin')],
                  securityContext: containerSecurity(),
                  resources: resources('50m', '32Mi', '64Mi'),
                },
              ],
            },
          },
        },
      },
      { parent: this, dependsOn: [this.statefulSet] },
    );

    const exporterSelector = selectorLabels('redis-exporter');
    this.exporter = deployment(
      'redis-exporter',
      'redis',
      namespace,
      {
        replicas: 1,
        selector: exporterSelector,
        podSecurity: podSecurity(EXPORTER_UID),
        pod: {
          containers: [
            longRunning({
              name: 'redis-exporter',
              image: image('monitoring.redisExporterImage', model.monitoring.config.redisExporterImage),
              env: [...Object.entries(redisExporterEnv(model)).map(([k, value]) => ({ name: k, value })), secretEnv('REDIS_PASSWORD', credentials.metadata.name, 'exporter')],
              ports: [{ name: 'metrics', containerPort: r.exporter.port }],
              readinessProbe: httpProbe(r.exporter.port, EXPORTER_HEALTH_PATH.redis),
              livenessProbe: httpProbe(r.exporter.port, EXPORTER_HEALTH_PATH.redis),
              resources: resources('20m', '32Mi', '64Mi'),
            }),
          ],
        },
      },
      this,
      { dependsOn: [this.clusterInit] },
    );
    clusterService('redis-exporter', 'redis', namespace, exporterSelector, [{ name: 'metrics', port: r.exporter.port }], this);

    // Written by `ops backup redis` (infra/src/kubernetes/ops.ts): one RDB per master per run.
    this.backupVolume = backupVolume('redis', namespace, redisBackupStorage(model.config), this);

    this.endpoints = pulumi.output(r.nodes.map(endpointString));
    this.registerOutputs({ endpoints: this.endpoints });
  }
}

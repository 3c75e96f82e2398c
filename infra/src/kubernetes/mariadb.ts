import { basename, dirname } from 'node:path/posix';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { endpointString, renderMariaDbCnf, renderMariaDbInitSql, renderMysqldExporterCnf, type PlatformSecrets } from '@numbering/blueprint';
import { checksum } from '../shared/checksum.js';
import { EXPORTER_HEALTH_PATH } from '../shared/exporters.js';
import { MARIADB_HEALTHCHECK, MARIADB_PATHS, mariaDbDirectories, mariaDbServerArgs } from '../shared/mariadb.js';
import {
  clusterService,
  configMap,
  containerSecurity,
  deployment,
  execProbe,
  headlessService,
  httpProbe,
  image,
  longRunning,
  metadata,
  podLabels,
  podSecurity,
  resources,
  secret,
  secretEnv,
  selectorLabels,
  tcpProbe,
  tmpVolume,
  type KubernetesComponentArgs,
  backupVolume,
} from './common.js';
import { mariaDbSize } from './sizing.js';

export interface KubernetesMariaDbArgs extends KubernetesComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
}

/** The official image's mysql user. */
const MYSQL_UID = 999;
const NOBODY = 65534;

/**
 * MariaDB on Kubernetes: a one-pod StatefulSet with its volume (the model's host is the pod's DNS
 * name), the tuned cnf from a ConfigMap, the init SQL from a Secret run on every start, the volume
 * its backups go to (written by the `ops backup mariadb` CronJob), and mysqld-exporter.
 */
export class KubernetesMariaDb extends pulumi.ComponentResource {
  readonly statefulSet: k8s.apps.v1.StatefulSet;
  readonly exporter: k8s.apps.v1.Deployment;
  /** The PVC `mariadb-backups`, mounted by the `ops backup mariadb` CronJob. */
  readonly backupVolume: k8s.core.v1.PersistentVolumeClaim;
  /** `root` (the server's entrypoint); `backup`, `migrator` and `app` for the ops CronJobs. Read as secretKeyRefs. */
  readonly credentials: k8s.core.v1.Secret;
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: KubernetesMariaDbArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:mariadb:MariaDb', name, {}, opts);
    const { model, secrets, namespace } = args;
    const m = model.mariadb;
    const size = mariaDbSize(model.config);
    const selector = selectorLabels(m.name);

    const cnf = renderMariaDbCnf(model);
    const initSql = secrets.apply((s) => renderMariaDbInitSql(model, s));
    const cnfMap = configMap('mariadb-config', 'mariadb', namespace, { [basename(MARIADB_PATHS.cnf)]: cnf }, this);
    const init = secret('mariadb-init', 'mariadb', namespace, initSql.apply((sql) => ({ [basename(MARIADB_PATHS.initSql)]: sql })), this);
    const credentials = secret('mariadb-credentials', 'mariadb', namespace, secrets.apply((s) => ({ root: s.mariadb.root, backup: s.mariadb.backup, migrator: s.mariadb.migrator, app: s.mariadb.app })), this);
    this.credentials = credentials;
    const configChecksum = pulumi.unsecret(initSql.apply((sql) => checksum(cnf, sql)));

    const service = headlessService(m.name, 'mariadb', namespace, selector, [{ name: 'mysql', port: m.port }], false, this);
    const mariadbImage = image('mariadb.image', m.config.image);

    this.statefulSet = new k8s.apps.v1.StatefulSet(
      m.name,
      {
        metadata: metadata(m.name, 'mariadb', namespace),
        spec: {
          serviceName: service.metadata.name,
          replicas: 1,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: podLabels(m.name, 'mariadb', selector), annotations: { 'checksum/config': configChecksum } },
            spec: {
              securityContext: podSecurity(MYSQL_UID),
              enableServiceLinks: false,
              // mariadbd writes the binlog and slow log below the datadir but does not create their directories.
              initContainers: [
                {
                  name: 'datadir-layout',
                  image: mariadbImage,
                  command: ['mkdir', '-p', ...mariaDbDirectories(model)],
                  volumeMounts: [{ name: 'data', mountPath: m.datadir }],
                  securityContext: containerSecurity(),
                  resources: resources('10m', '16Mi', '32Mi'),
                },
              ],
              containers: [
                longRunning({
                  name: 'mariadb',
                  image: mariadbImage,
                  // `args`, not `command`: the image's entrypoint initializes an empty datadir first.
                  args: mariaDbServerArgs(),
                  env: [secretEnv('MARIADB_ROOT_PASSWORD', credentials.metadata.name, 'root')],
                  ports: [{ name: 'mysql', containerPort: m.port }],
                  volumeMounts: [
                    { name: 'data', mountPath: m.datadir },
                    { name: 'config', mountPath: MARIADB_PATHS.cnf, subPath: basename(MARIADB_PATHS.cnf), readOnly: true },
                    { name: 'init', mountPath: dirname(MARIADB_PATHS.initSql), readOnly: true },
                    { name: 'run', mountPath: dirname(m.socket) },
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                  startupProbe: tcpProbe(m.port, { failureThreshold: 60 }),
                  readinessProbe: execProbe(MARIADB_HEALTHCHECK),
                  livenessProbe: tcpProbe(m.port, { failureThreshold: 6 }),
                  resources: resources(size.cpuRequest, size.memoryRequest, size.memoryLimit),
                }),
              ],
              volumes: [
                { name: 'config', configMap: { name: cnfMap.metadata.name } },
                { name: 'init', secret: { secretName: init.metadata.name, defaultMode: 0o440 } },
                { name: 'run', emptyDir: { sizeLimit: '16Mi' } },
                tmpVolume('tmp', '1Gi'),
              ],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size.storage } } } }],
        },
      },
      { parent: this },
    );

    const exporterSelector = selectorLabels('mysqld-exporter');
    const exporterCnf = secret('mysqld-exporter', 'mariadb', namespace, secrets.apply((s) => ({ 'my.cnf': renderMysqldExporterCnf(model, s) })), this);
    this.exporter = deployment(
      'mysqld-exporter',
      'mariadb',
      namespace,
      {
        replicas: 1,
        selector: exporterSelector,
        podSecurity: podSecurity(NOBODY),
        pod: {
          containers: [
            longRunning({
              name: 'mysqld-exporter',
              image: image('mariadb.exporterImage', m.config.exporterImage),
              args: [`--config.my-cnf=${MARIADB_PATHS.exporterCnf}`, `--web.listen-address=:${m.exporter.port}`],
              ports: [{ name: 'metrics', containerPort: m.exporter.port }],
              volumeMounts: [{ name: 'cnf', mountPath: dirname(MARIADB_PATHS.exporterCnf), readOnly: true }],
              readinessProbe: httpProbe(m.exporter.port, EXPORTER_HEALTH_PATH.mysqld),
              livenessProbe: httpProbe(m.exporter.port, EXPORTER_HEALTH_PATH.mysqld),
              resources: resources('20m', '32Mi', '64Mi'),
            }),
          ],
          volumes: [{ name: 'cnf', secret: { secretName: exporterCnf.metadata.name, defaultMode: 0o440 } }],
        },
      },
      this,
      { dependsOn: [this.statefulSet] },
    );
    clusterService('mysqld-exporter', 'mariadb', namespace, exporterSelector, [{ name: 'metrics', port: m.exporter.port }], this);

    // The dumps themselves are `ops backup mariadb` (infra/src/kubernetes/ops.ts); the volume they are
    // written to belongs here, with the data it protects.
    this.backupVolume = backupVolume('mariadb', namespace, size.backupStorage, this);

    this.endpoint = pulumi.output(endpointString(m));
    this.registerOutputs({ endpoint: this.endpoint });
  }
}

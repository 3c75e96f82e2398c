import { basename } from 'node:path/posix';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import {
  endpointString,
  POSTGRES_ROLES,
  renderHaproxyConfig,
  renderPatroniConfig,
  renderPgbouncerIni,
  renderPgbouncerUserlist,
  pgbackrestTlsArchiveCommand,
  renderPostgresBootstrapSql,
  type PlatformSecrets,
} from '@numbering/blueprint';
import { checksum } from '../shared/checksum.js';
import { PATRONI_HEALTH, PGBOUNCER_UID, POSTGRES_GID, POSTGRES_PATHS, POSTGRES_UID } from '../shared/postgres.js';
import {
  clusterService,
  configMap,
  deployment,
  disruptionBudget,
  drainBeforeStop,
  headlessService,
  httpProbe,
  image,
  longRunning,
  metadata,
  POD_NAME_ENV,
  podLabels,
  podSecurity,
  resources,
  secret,
  selectorLabels,
  spreadOverNodes,
  tcpProbe,
  tmpVolume,
  type KubernetesComponentArgs,
  BACKUP_DIR,
  backupCronJob,
} from './common.js';
import { PGBACKREST_TLS_OPTIONS, pgbackrestCertificates, pgbackrestMemberParts, pgbackrestRepository, type PgbackrestRepository } from './pgbackrest.js';
import { postgresSize } from './sizing.js';

export interface KubernetesPostgresHaArgs extends KubernetesComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
  backupSchedule: string;
}

/** The official HAProxy image's haproxy user. */
const HAPROXY_UID = 99;
const BACKUP_RETENTION_DAYS = 7;

/**
 * What Patroni does with the Kubernetes API when it is the DCS (docs/kubernetes.rst): the leader lock
 * and cluster state live in Endpoints annotations (`use_endpoints`), the `<scope>-config` Service is
 * created by Patroni itself, and it labels its pods with their role.
 */
export const PATRONI_RBAC_RULES: k8s.types.input.rbac.v1.PolicyRule[] = [
  { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'patch', 'update', 'watch', 'delete', 'deletecollection'] },
  { apiGroups: [''], resources: ['endpoints'], verbs: ['create', 'get', 'list', 'patch', 'update', 'watch', 'delete', 'deletecollection'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch', 'update', 'watch'] },
  { apiGroups: [''], resources: ['services'], verbs: ['create', 'get', 'list'] },
];

/**
 * PostgreSQL HA on Kubernetes: Patroni members in a StatefulSet using the Kubernetes API as DCS (so no
 * etcd to run), with the RBAC that needs; HAProxy routing to the leader/replicas by Patroni's REST
 * checks; PgBouncer in front; a nightly pg_dump through the primary.
 */
export class KubernetesPostgresHa extends pulumi.ComponentResource {
  readonly statefulSet: k8s.apps.v1.StatefulSet;
  readonly role: k8s.rbac.v1.Role;
  readonly haproxy: k8s.apps.v1.Deployment;
  readonly pgbouncer: k8s.apps.v1.Deployment;
  readonly backup: k8s.batch.v1.CronJob;
  readonly pgbackrest: PgbackrestRepository;
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: KubernetesPostgresHaArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:postgres:PatroniCluster', name, {}, opts);
    const { model, secrets, namespace } = args;
    const pg = model.postgres;
    if (pg.dcs.kind !== 'kubernetes') throw new Error(`postgres: the kubernetes target needs the kubernetes DCS, the model has ${pg.dcs.kind}`);
    const size = postgresSize(model.config);
    // Patroni finds its pods (and labels its Endpoints) by exactly these labels.
    const selector = { ...selectorLabels('postgres'), ...pg.dcs.labels };
    const first = pg.members[0]!;

    const account = new k8s.core.v1.ServiceAccount('postgres', { metadata: metadata('postgres', 'postgres', namespace) }, { parent: this });
    this.role = new k8s.rbac.v1.Role('postgres', { metadata: metadata('postgres', 'postgres', namespace), rules: PATRONI_RBAC_RULES }, { parent: this });
    const binding = new k8s.rbac.v1.RoleBinding(
      'postgres',
      {
        metadata: metadata('postgres', 'postgres', namespace),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: this.role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace }],
      },
      { parent: this },
    );

    const files = secrets.apply((s): Record<string, string> => ({
      ...Object.fromEntries(
        pg.members.map((member) => [
          `${member.name}.yml`,
          // WAL goes to the pgBackRest repository host through the member's own pgbackrest.conf.
          renderPatroniConfig(model, member, s, { postBootstrapSqlFile: POSTGRES_PATHS.bootstrapSql, archiveCommand: pgbackrestTlsArchiveCommand(model, member, PGBACKREST_TLS_OPTIONS) }),
        ]),
      ),
      [basename(POSTGRES_PATHS.bootstrapSql)]: renderPostgresBootstrapSql(model, s),
    }));
    const config = secret('postgres-config', 'postgres', namespace, files, this);
    const credentials = secret('postgres-credentials', 'postgres', namespace, secrets.apply((s) => ({ superuser: s.postgres.superuser })), this);
    const configChecksum = pulumi.unsecret(files.apply((f) => checksum(...Object.keys(f).sort().map((k) => `${k}\n${f[k]}`))));

    const service = headlessService(
      'postgres',
      'postgres',
      namespace,
      selector,
      [
        { name: 'postgresql', port: first.pgPort },
        { name: 'patroni', port: first.restPort },
        // Each member's pgbackrest server: the repository host reads PGDATA through it (pgN-host).
        { name: 'pgbackrest', port: pg.pgbackrest.tlsPort },
      ],
      true,
      this,
    );
    // Patroni writes the leader's address into the Endpoints of this selector-less Service (use_endpoints);
    // its port name matches the one in patroni.yml (kubernetes.ports).
    new k8s.core.v1.Service(
      pg.scope,
      { metadata: metadata(pg.scope, 'postgres', namespace, { labels: pg.dcs.labels }), spec: { type: 'ClusterIP', ports: [{ name: 'postgresql', port: first.pgPort, targetPort: first.pgPort }] } },
      { parent: this },
    );

    const postgresImage = image('postgres.image', pg.config.image);
    // postgres.image plus pgbackrest: PostgreSQL runs archive_command in the Patroni container.
    const pgbackrestImage = image('postgres.pgbackrestImage', pg.config.pgbackrestImage);
    const certs = pgbackrestCertificates(model, this);
    const pgbackrest = pgbackrestMemberParts(
      model,
      namespace,
      certs,
      pgbackrestImage,
      { dataVolume: 'data', dataMount: POSTGRES_PATHS.dataRoot, socketVolume: 'socket', socketMount: POSTGRES_PATHS.socketDir, tmpVolume: 'tmp', podNameEnv: POD_NAME_ENV },
      this,
    );
    this.statefulSet = new k8s.apps.v1.StatefulSet(
      'postgres',
      {
        metadata: metadata('postgres', 'postgres', namespace),
        spec: {
          serviceName: service.metadata.name,
          replicas: pg.members.length,
          // Patroni elects one bootstrapper through the DCS; the others wait and clone.
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: podLabels('postgres', 'postgres', selector), annotations: { 'checksum/config': configChecksum, 'checksum/pgbackrest': pgbackrest.checksum } },
            spec: {
              serviceAccountName: account.metadata.name,
              securityContext: podSecurity(POSTGRES_UID, POSTGRES_GID),
              affinity: spreadOverNodes(selector),
              enableServiceLinks: false,
              terminationGracePeriodSeconds: 60,
              containers: [
                longRunning({
                  name: 'patroni',
                  image: pgbackrestImage,
                  // Patroni on the rendered file directly (see shared/postgres.ts for why not Spilo's launcher).
                  command: ['patroni', POSTGRES_PATHS.config],
                  env: [
                    POD_NAME_ENV,
                    // Written into the leader Endpoints when this member holds the lock (patroni.yml leaves pod_ip to the environment).
                    { name: 'PATRONI_KUBERNETES_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                    { name: 'HOME', value: '/home/postgres' },
                  ],
                  ports: [
                    { name: 'postgresql', containerPort: first.pgPort },
                    { name: 'patroni', containerPort: first.restPort },
                  ],
                  volumeMounts: [
                    { name: 'data', mountPath: POSTGRES_PATHS.dataRoot },
                    { name: 'config', mountPath: POSTGRES_PATHS.config, subPathExpr: '$(POD_NAME).yml', readOnly: true },
                    { name: 'config', mountPath: POSTGRES_PATHS.bootstrapSql, subPath: basename(POSTGRES_PATHS.bootstrapSql), readOnly: true },
                    { name: 'socket', mountPath: POSTGRES_PATHS.socketDir },
                    { name: 'tmp', mountPath: '/tmp' },
                    { name: 'shm', mountPath: '/dev/shm' },
                    ...pgbackrest.patroniMounts,
                  ],
                  readinessProbe: httpProbe(first.restPort, PATRONI_HEALTH.readiness),
                  livenessProbe: httpProbe(first.restPort, PATRONI_HEALTH.liveness, { initialDelaySeconds: 30 }),
                  resources: resources(size.cpuRequest, size.memoryRequest, size.memoryLimit),
                }),
                pgbackrest.sidecar,
              ],
              volumes: [
                { name: 'config', secret: { secretName: config.metadata.name, defaultMode: 0o440 } },
                { name: 'socket', emptyDir: { sizeLimit: '16Mi' } },
                tmpVolume(),
                { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '256Mi' } },
                ...pgbackrest.volumes,
              ],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size.storage } } } }],
        },
      },
      { parent: this, dependsOn: [binding] },
    );
    disruptionBudget('postgres', 'postgres', namespace, selector, { maxUnavailable: 1 }, this);
    this.pgbackrest = pgbackrestRepository(model, namespace, certs, pgbackrestImage, [this.statefulSet], this);

    const haproxyCfg = renderHaproxyConfig(model);
    const haproxyMap = configMap('haproxy-config', 'postgres', namespace, { [basename(POSTGRES_PATHS.haproxyConfig)]: haproxyCfg }, this);
    const haproxySelector = selectorLabels('haproxy');
    this.haproxy = deployment(
      'haproxy',
      'postgres',
      namespace,
      {
        replicas: 2,
        selector: haproxySelector,
        rollout: 'surge',
        annotations: { 'checksum/config': checksum(haproxyCfg) },
        podSecurity: podSecurity(HAPROXY_UID),
        spreadOverNodes: true,
        pod: {
          containers: [
            longRunning({
              name: 'haproxy',
              image: image('postgres.haproxyImage', pg.config.haproxyImage),
              ports: [
                { name: 'primary', containerPort: pg.haproxy.primaryPort },
                { name: 'replicas', containerPort: pg.haproxy.replicaPort },
                { name: 'stats', containerPort: pg.haproxy.statsPort },
              ],
              volumeMounts: [{ name: 'config', mountPath: POSTGRES_PATHS.haproxyConfig, subPath: basename(POSTGRES_PATHS.haproxyConfig), readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
              readinessProbe: httpProbe(pg.haproxy.statsPort, '/'),
              livenessProbe: httpProbe(pg.haproxy.statsPort, '/'),
              lifecycle: drainBeforeStop,
              resources: resources('50m', '64Mi', '128Mi'),
            }),
          ],
          volumes: [{ name: 'config', configMap: { name: haproxyMap.metadata.name } }, tmpVolume()],
        },
      },
      this,
      { dependsOn: [this.statefulSet] },
    );
    clusterService(
      'haproxy',
      'postgres',
      namespace,
      haproxySelector,
      [
        { name: 'primary', port: pg.haproxy.primaryPort },
        { name: 'replicas', port: pg.haproxy.replicaPort },
        { name: 'stats', port: pg.haproxy.statsPort },
      ],
      this,
    );
    disruptionBudget('haproxy', 'postgres', namespace, haproxySelector, { minAvailable: 1 }, this);

    const ini = renderPgbouncerIni(model);
    const iniMap = configMap('pgbouncer-config', 'postgres', namespace, { [basename(POSTGRES_PATHS.pgbouncerIni)]: ini }, this);
    const userlist = secrets.apply((s) => renderPgbouncerUserlist(model, s));
    const userlistSecret = secret('pgbouncer-userlist', 'postgres', namespace, userlist.apply((u) => ({ [basename(pg.pgbouncer.authFile)]: u })), this);
    const bouncerSelector = selectorLabels('pgbouncer');
    this.pgbouncer = deployment(
      'pgbouncer',
      'postgres',
      namespace,
      {
        replicas: 2,
        selector: bouncerSelector,
        rollout: 'surge',
        annotations: { 'checksum/config': pulumi.unsecret(userlist.apply((u) => checksum(ini, u))) },
        podSecurity: podSecurity(PGBOUNCER_UID),
        spreadOverNodes: true,
        pod: {
          containers: [
            longRunning({
              name: 'pgbouncer',
              image: image('postgres.pgbouncerImage', pg.config.pgbouncerImage),
              command: [POSTGRES_PATHS.pgbouncerBinary, POSTGRES_PATHS.pgbouncerIni],
              ports: [{ name: 'pgbouncer', containerPort: pg.pgbouncer.port }],
              volumeMounts: [
                { name: 'ini', mountPath: POSTGRES_PATHS.pgbouncerIni, subPath: basename(POSTGRES_PATHS.pgbouncerIni), readOnly: true },
                { name: 'userlist', mountPath: pg.pgbouncer.authFile, subPath: basename(pg.pgbouncer.authFile), readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              readinessProbe: tcpProbe(pg.pgbouncer.port),
              livenessProbe: tcpProbe(pg.pgbouncer.port),
              lifecycle: drainBeforeStop,
              resources: resources('50m', '32Mi', '128Mi'),
            }),
          ],
          volumes: [
            { name: 'ini', configMap: { name: iniMap.metadata.name } },
            { name: 'userlist', secret: { secretName: userlistSecret.metadata.name, defaultMode: 0o440 } },
            tmpVolume(),
          ],
        },
      },
      this,
      { dependsOn: [this.haproxy] },
    );
    clusterService('pgbouncer', 'postgres', namespace, bouncerSelector, [{ name: 'pgbouncer', port: pg.pgbouncer.port }], this);
    disruptionBudget('pgbouncer', 'postgres', namespace, bouncerSelector, { minAvailable: 1 }, this);

    // Through HAProxy's primary port, so the dump always reads from the current leader.
    const dump = [
      'set -euo pipefail',
      `f="${BACKUP_DIR}/${pg.config.database}-$(date -u +%Y%m%dT%H%M%SZ).dump"`,
      `pg_dump --host=${pg.haproxy.host} --port=${pg.haproxy.primaryPort} --username=${POSTGRES_ROLES.superuser} --format=custom --file="$f.partial" ${pg.config.database}`,
      'mv "$f.partial" "$f"',
      `find ${BACKUP_DIR} -name '*.dump' -mtime +${BACKUP_RETENTION_DAYS} -delete`,
      'echo "backup written: $f"',
    ].join('\n');
    this.backup = backupCronJob(
      {
        component: 'postgres',
        namespace,
        schedule: args.backupSchedule,
        storage: size.backupStorage,
        image: postgresImage,
        script: dump,
        // The password reaches the dump tool through its environment: not in the process list, not in the Job object.
        passwordEnv: { name: 'PGPASSWORD', secret: credentials.metadata.name, key: 'superuser' },
        podSecurity: podSecurity(POSTGRES_UID, POSTGRES_GID),
        memoryLimit: '512Mi',
      },
      this,
    );

    this.endpoint = pulumi.output(endpointString(pg.pgbouncer));
    this.registerOutputs({ endpoint: this.endpoint });
  }
}

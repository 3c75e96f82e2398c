import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import {
  PGBACKREST_MEMBER_CLIENT_CN,
  PGBACKREST_REPO_CLIENT_CN,
  pgbackrestStanza,
  renderPgbackrestMemberConf,
  renderPgbackrestRepoHostConf,
  type PatroniMember,
  type PgbackrestTlsHostLayout,
  type PgbackrestTlsOptions,
  type PlatformModel,
} from '@numbering/blueprint';
import { checksum } from '../shared/checksum.js';
import { POSTGRES_GID, POSTGRES_UID } from '../shared/postgres.js';
import {
  configMap,
  containerSecurity,
  execProbe,
  headlessService,
  image,
  longRunning,
  metadata,
  podLabels,
  podSecurity,
  resources,
  secret,
  selectorLabels,
  tmpVolume,
} from './common.js';
import { pgbackrestRepoStorage } from './sizing.js';

type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/**
 * pgBackRest on Kubernetes: a repository host (StatefulSet `pgbackrest`, its own PVC) and a
 * `pgbackrest server` sidecar in every Patroni pod, talking mutual TLS on postgres.pgbackrest.tlsPort
 * (the layout of packages/blueprint/src/render/pgbackrest-tls.ts). Every pod sees the same paths; a
 * member's own server certificate is mounted by pod name.
 */
export const PGBACKREST_PATHS = {
  configFile: '/etc/pgbackrest/pgbackrest.conf',
  tlsDir: '/etc/pgbackrest/tls',
  logPath: '/var/log/pgbackrest',
  spoolPath: '/var/spool/pgbackrest',
  // On the pod's /tmp volume, which the Patroni container (archive-push) and the sidecar share.
  lockPath: '/tmp/pgbackrest',
  repoPath: '/var/lib/pgbackrest',
} as const;

const tlsFile = (name: string) => `${PGBACKREST_PATHS.tlsDir}/${name}`;

export const PGBACKREST_POD_LAYOUT: PgbackrestTlsHostLayout = {
  configFile: PGBACKREST_PATHS.configFile,
  logPath: PGBACKREST_PATHS.logPath,
  lockPath: PGBACKREST_PATHS.lockPath,
  spoolPath: PGBACKREST_PATHS.spoolPath,
  certs: {
    caFile: tlsFile('ca.crt'),
    serverCertFile: tlsFile('server.crt'),
    serverKeyFile: tlsFile('server.key'),
    clientCertFile: tlsFile('client.crt'),
    clientKeyFile: tlsFile('client.key'),
  },
};

export const PGBACKREST_TLS_OPTIONS: PgbackrestTlsOptions = {
  repoHost: { ...PGBACKREST_POD_LAYOUT, repoPath: PGBACKREST_PATHS.repoPath },
  member: () => PGBACKREST_POD_LAYOUT,
};

/** The repository host: StatefulSet, headless Service and pod share the name (pod `pgbackrest-0`). */
export const PGBACKREST_REPO_NAME = 'pgbackrest';
export const PGBACKREST_REPO_POD = `${PGBACKREST_REPO_NAME}-0`;
/** The container the backup jobs exec into. */
export const PGBACKREST_CONTAINER = 'pgbackrest';
/** Pods of the jobs that run pgBackRest on the repository host through `kubectl exec` (one ServiceAccount, one egress policy). */
export const PGBACKREST_BACKUP_NAME = 'postgres-pgbackrest-backup';
export const PGBACKREST_STANZA_CREATE_NAME = 'postgres-pgbackrest-stanza-create';
/** registry.k8s.io/kubectl is distroless: its nonroot user. */
const KUBECTL_UID = 65_532;

/** `pgbackrest <args>` on the repository host, its config named explicitly. */
export const pgbackrestRepoCommand = (model: PlatformModel, ...args: string[]) => ['pgbackrest', `--config=${PGBACKREST_PATHS.configFile}`, `--stanza=${pgbackrestStanza(model)}`, ...args];

/** kubectl's arguments: run `command` in the repository host's pgbackrest container. */
export const kubectlExecArgs = (model: PlatformModel, command: string[]) => ['exec', `--namespace=${model.namespace}`, PGBACKREST_REPO_POD, '-c', PGBACKREST_CONTAINER, '--', ...command];

/** The Role of the backup jobs: exec into the repository host's pod and read it (kubectl looks the pod up first), nothing else. */
export const PGBACKREST_BACKUP_RULES: k8s.types.input.rbac.v1.PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], resourceNames: [PGBACKREST_REPO_POD], verbs: ['get'] },
  { apiGroups: [''], resources: ['pods/exec'], resourceNames: [PGBACKREST_REPO_POD], verbs: ['create'] },
];

/** The two scheduled backups: a weekly full and a daily differential (pgBackRest makes it a full while none exists). */
export function pgbackrestBackups(model: PlatformModel): { name: string; type: 'full' | 'diff'; schedule: string; activeDeadlineSeconds: number }[] {
  const pg = model.postgres.config;
  return [
    { name: `${PGBACKREST_BACKUP_NAME}-full`, type: 'full', schedule: pg.pgbackrestFullSchedule, activeDeadlineSeconds: 6 * 3600 },
    { name: `${PGBACKREST_BACKUP_NAME}-diff`, type: 'diff', schedule: pg.pgbackrestDiffSchedule, activeDeadlineSeconds: 3 * 3600 },
  ];
}

/** `pgbackrest server-ping` against the pod's own server: answers once it accepts TLS connections. */
const serverPing = (extra: Partial<k8s.types.input.core.v1.Probe> = {}) =>
  execProbe(['pgbackrest', `--config=${PGBACKREST_PATHS.configFile}`, '--log-level-file=off', '--log-level-console=warn', 'server-ping', '127.0.0.1'], extra);

const VALIDITY = { caHours: 10 * 365 * 24, certHours: 2 * 365 * 24, earlyRenewalHours: 30 * 24 };

interface Issued {
  cert: pulumi.Output<string>;
  key: pulumi.Output<string>;
}

/**
 * The CA and every certificate of the layout. Private keys stay in the state (secret outputs of
 * tls.PrivateKey, wrapped secret again where they are passed on) and in Kubernetes Secrets; the
 * CA's key never leaves the state. Certificates are renewed by `pulumi up` in their last 30 days.
 */
export function pgbackrestCertificates(model: PlatformModel, parent: pulumi.Resource) {
  const privateKey = (name: string) => new tls.PrivateKey(name, { algorithm: 'ECDSA', ecdsaCurve: 'P256' }, { parent });
  const caKey = privateKey('pgbackrest-ca-key');
  const caKeyPem = pulumi.secret(caKey.privateKeyPem);
  const ca = new tls.SelfSignedCert(
    'pgbackrest-ca',
    {
      privateKeyPem: caKeyPem,
      isCaCertificate: true,
      subject: { commonName: `${model.namespace} pgbackrest CA`, organization: 'numbering' },
      validityPeriodHours: VALIDITY.caHours,
      allowedUses: ['cert_signing', 'crl_signing'],
    },
    { parent },
  );
  const issue = (name: string, commonName: string, use: 'server_auth' | 'client_auth', dnsNames?: string[]): Issued => {
    const key = privateKey(`${name}-key`);
    const keyPem = pulumi.secret(key.privateKeyPem);
    const request = new tls.CertRequest(`${name}-csr`, { privateKeyPem: keyPem, subject: { commonName }, ...(dnsNames ? { dnsNames } : {}) }, { parent });
    const cert = new tls.LocallySignedCert(
      name,
      {
        certRequestPem: request.certRequestPem,
        caPrivateKeyPem: caKeyPem,
        caCertPem: ca.certPem,
        validityPeriodHours: VALIDITY.certHours,
        earlyRenewalHours: VALIDITY.earlyRenewalHours,
        allowedUses: ['digital_signature', 'key_encipherment', use],
      },
      { parent },
    );
    return { cert: cert.certPem, key: keyPem };
  };
  // pgBackRest 2.45 matches the host it connects to against DNS SANs only (not IP SANs, not the CN).
  const servers = Object.fromEntries(model.postgres.members.map((m) => [m.name, issue(`pgbackrest-${m.name}-server`, m.host, 'server_auth', [m.host])]));
  const repoHost = model.postgres.pgbackrest.repoHost;
  return {
    ca: ca.certPem,
    members: servers,
    repoServer: issue('pgbackrest-repo-server', repoHost, 'server_auth', [repoHost]),
    // The CNs each side's tls-server-auth admits for the stanza.
    repoClient: issue('pgbackrest-repo-client', PGBACKREST_REPO_CLIENT_CN, 'client_auth'),
    memberClient: issue('pgbackrest-postgres-client', PGBACKREST_MEMBER_CLIENT_CN, 'client_auth'),
  };
}

export type PgbackrestCertificates = ReturnType<typeof pgbackrestCertificates>;

const memberServerFile = (member: string, ext: 'crt' | 'key') => `${member}-server.${ext}`;

/** Mode of the TLS files: root-owned (Secret volume), group postgres (fsGroup) may read; what pgBackRest accepts for a root-owned key (0640 or less). */
const TLS_MODE = 0o440;

/** What the Patroni pods get: the member configs, the TLS Secret, the volumes and mounts of both containers, and the sidecar. */
export interface PgbackrestMemberParts {
  /** One member config per pod name (`<pod>.conf`). */
  config: k8s.core.v1.ConfigMap;
  tlsSecret: k8s.core.v1.Secret;
  /** Changes when a config or a certificate does, so the pods restart on it. */
  checksum: pulumi.Output<string>;
  volumes: Volume[];
  /** The Patroni container: PostgreSQL runs archive-push there (config, CA, client certificate, log/spool). */
  patroniMounts: VolumeMount[];
  sidecar: k8s.types.input.core.v1.Container;
}

export function pgbackrestMemberParts(
  model: PlatformModel,
  namespace: pulumi.Input<string>,
  certs: PgbackrestCertificates,
  pgbackrestImage: string,
  pod: { dataVolume: string; dataMount: string; socketVolume: string; socketMount: string; tmpVolume: string; podNameEnv: k8s.types.input.core.v1.EnvVar },
  parent: pulumi.Resource,
): PgbackrestMemberParts {
  const members = model.postgres.members;
  const configs = Object.fromEntries(members.map((m: PatroniMember) => [`${m.name}.conf`, renderPgbackrestMemberConf(model, m, PGBACKREST_TLS_OPTIONS)]));
  const config = configMap('postgres-pgbackrest-config', 'postgres', namespace, configs, parent);
  const tlsData = pulumi.all([certs.ca, certs.memberClient.cert, certs.memberClient.key, ...members.flatMap((m) => [certs.members[m.name]!.cert, certs.members[m.name]!.key])]).apply(([ca, clientCert, clientKey, ...server]): Record<string, string> => ({
    'ca.crt': ca!,
    'client.crt': clientCert!,
    'client.key': clientKey!,
    ...Object.fromEntries(members.flatMap((m, i) => [[memberServerFile(m.name, 'crt'), server[2 * i]!], [memberServerFile(m.name, 'key'), server[2 * i + 1]!]])),
  }));
  const tlsSecret = secret('postgres-pgbackrest-tls', 'postgres', namespace, tlsData, parent);
  const sum = pulumi.unsecret(tlsData.apply((t) => checksum(...Object.keys(configs).sort().map((k) => `${k}\n${configs[k]}`), ...Object.keys(t).sort().map((k) => `${k}\n${t[k]}`))));

  const files = (names: [file: string, key: string][]) => names.map(([file, key]) => ({ name: 'pgbackrest-tls', mountPath: tlsFile(file), subPath: key, readOnly: true }));
  const shared: VolumeMount[] = [
    { name: 'pgbackrest-config', mountPath: PGBACKREST_PATHS.configFile, subPathExpr: '$(POD_NAME).conf', readOnly: true },
    ...files([['ca.crt', 'ca.crt'], ['client.crt', 'client.crt'], ['client.key', 'client.key']]),
    { name: 'pgbackrest-log', mountPath: PGBACKREST_PATHS.logPath },
    { name: 'pgbackrest-spool', mountPath: PGBACKREST_PATHS.spoolPath },
    { name: pod.tmpVolume, mountPath: '/tmp' },
  ];
  const sidecar = longRunning({
    name: PGBACKREST_CONTAINER,
    image: pgbackrestImage,
    command: ['pgbackrest', `--config=${PGBACKREST_PATHS.configFile}`, 'server'],
    env: [pod.podNameEnv],
    ports: [{ name: 'pgbackrest', containerPort: model.postgres.pgbackrest.tlsPort }],
    volumeMounts: [
      ...shared,
      { name: 'pgbackrest-tls', mountPath: tlsFile('server.crt'), subPathExpr: '$(POD_NAME)-server.crt', readOnly: true },
      { name: 'pgbackrest-tls', mountPath: tlsFile('server.key'), subPathExpr: '$(POD_NAME)-server.key', readOnly: true },
      // The backup reads PGDATA through this server and talks to PostgreSQL over its socket.
      { name: pod.dataVolume, mountPath: pod.dataMount },
      { name: pod.socketVolume, mountPath: pod.socketMount },
    ],
    readinessProbe: serverPing(),
    livenessProbe: serverPing({ initialDelaySeconds: 10 }),
    resources: resources('50m', '64Mi', '512Mi'),
  });
  return {
    config,
    tlsSecret,
    checksum: sum,
    volumes: [
      { name: 'pgbackrest-config', configMap: { name: config.metadata.name } },
      { name: 'pgbackrest-tls', secret: { secretName: tlsSecret.metadata.name, defaultMode: TLS_MODE } },
      { name: 'pgbackrest-log', emptyDir: { sizeLimit: '256Mi' } },
      { name: 'pgbackrest-spool', emptyDir: { sizeLimit: '1Gi' } },
    ],
    patroniMounts: shared.filter((m) => m.mountPath !== '/tmp'),
    sidecar,
  };
}

export interface PgbackrestRepository {
  statefulSet: k8s.apps.v1.StatefulSet;
  service: k8s.core.v1.Service;
  stanzaCreate: k8s.batch.v1.Job;
  backups: k8s.batch.v1.CronJob[];
  role: k8s.rbac.v1.Role;
}

/**
 * The repository host, the stanza-create Job and the backup CronJobs. Backups run where the
 * repository is (pgBackRest refuses `backup` and `stanza-create` elsewhere), so the jobs are
 * `kubectl exec` into `pgbackrest-0` with a Role that allows exactly that.
 */
export function pgbackrestRepository(
  model: PlatformModel,
  namespace: pulumi.Input<string>,
  certs: PgbackrestCertificates,
  pgbackrestImage: string,
  dependsOn: pulumi.Resource[],
  parent: pulumi.Resource,
): PgbackrestRepository {
  const port = model.postgres.pgbackrest.tlsPort;
  const conf = renderPgbackrestRepoHostConf(model, PGBACKREST_TLS_OPTIONS);
  const config = configMap('pgbackrest-config', 'postgres', namespace, { 'pgbackrest.conf': conf }, parent);
  const tlsData = pulumi
    .all([certs.ca, certs.repoServer.cert, certs.repoServer.key, certs.repoClient.cert, certs.repoClient.key])
    .apply(([ca, serverCert, serverKey, clientCert, clientKey]): Record<string, string> => ({ 'ca.crt': ca, 'server.crt': serverCert, 'server.key': serverKey, 'client.crt': clientCert, 'client.key': clientKey }));
  const tlsSecret = secret('pgbackrest-tls', 'postgres', namespace, tlsData, parent);
  const sum = pulumi.unsecret(tlsData.apply((t) => checksum(conf, ...Object.keys(t).sort().map((k) => `${k}\n${t[k]}`))));

  const selector = selectorLabels(PGBACKREST_REPO_NAME);
  const service = headlessService(PGBACKREST_REPO_NAME, 'postgres', namespace, selector, [{ name: 'pgbackrest', port }], false, parent);
  const statefulSet = new k8s.apps.v1.StatefulSet(
    PGBACKREST_REPO_NAME,
    {
      metadata: metadata(PGBACKREST_REPO_NAME, 'postgres', namespace),
      spec: {
        serviceName: service.metadata.name,
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: podLabels(PGBACKREST_REPO_NAME, 'postgres', selector), annotations: { 'checksum/config': sum } },
          spec: {
            securityContext: podSecurity(POSTGRES_UID, POSTGRES_GID),
            enableServiceLinks: false,
            automountServiceAccountToken: false,
            // A backup in progress is lost when the server stops; give it a moment to end cleanly.
            terminationGracePeriodSeconds: 30,
            containers: [
              longRunning({
                name: PGBACKREST_CONTAINER,
                image: pgbackrestImage,
                command: ['pgbackrest', `--config=${PGBACKREST_PATHS.configFile}`, 'server'],
                ports: [{ name: 'pgbackrest', containerPort: port }],
                volumeMounts: [
                  { name: 'repo', mountPath: PGBACKREST_PATHS.repoPath },
                  { name: 'config', mountPath: PGBACKREST_PATHS.configFile, subPath: 'pgbackrest.conf', readOnly: true },
                  { name: 'tls', mountPath: PGBACKREST_PATHS.tlsDir, readOnly: true },
                  { name: 'log', mountPath: PGBACKREST_PATHS.logPath },
                  { name: 'spool', mountPath: PGBACKREST_PATHS.spoolPath },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
                readinessProbe: serverPing(),
                livenessProbe: serverPing({ initialDelaySeconds: 10 }),
                // Backups compress (lz4) and checksum every file here.
                resources: resources('250m', '256Mi', '1Gi'),
              }),
            ],
            volumes: [
              { name: 'config', configMap: { name: config.metadata.name } },
              { name: 'tls', secret: { secretName: tlsSecret.metadata.name, defaultMode: TLS_MODE } },
              { name: 'log', emptyDir: { sizeLimit: '1Gi' } },
              { name: 'spool', emptyDir: { sizeLimit: '1Gi' } },
              tmpVolume(),
            ],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'repo' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: pgbackrestRepoStorage(model.config) } } } }],
      },
    },
    { parent },
  );

  const account = new k8s.core.v1.ServiceAccount(PGBACKREST_BACKUP_NAME, { metadata: metadata(PGBACKREST_BACKUP_NAME, 'postgres', namespace) }, { parent });
  const role = new k8s.rbac.v1.Role(PGBACKREST_BACKUP_NAME, { metadata: metadata(PGBACKREST_BACKUP_NAME, 'postgres', namespace), rules: PGBACKREST_BACKUP_RULES }, { parent });
  const binding = new k8s.rbac.v1.RoleBinding(
    PGBACKREST_BACKUP_NAME,
    {
      metadata: metadata(PGBACKREST_BACKUP_NAME, 'postgres', namespace),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
      subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace }],
    },
    { parent },
  );

  const kubectlImage = image('postgres.kubectlImage', model.postgres.config.kubectlImage);
  const kubectlPod = (name: string, args: string[]): k8s.types.input.core.v1.PodTemplateSpec => ({
    metadata: { labels: podLabels(name, 'postgres', selectorLabels(PGBACKREST_BACKUP_NAME)) },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: account.metadata.name,
      // kubectl authenticates with this token (in-cluster config); the Role allows only the exec.
      automountServiceAccountToken: true,
      securityContext: podSecurity(KUBECTL_UID),
      enableServiceLinks: false,
      containers: [
        {
          name: 'kubectl',
          image: kubectlImage,
          imagePullPolicy: 'IfNotPresent',
          // The image's entrypoint is kubectl.
          args,
          env: [
            { name: 'HOME', value: '/tmp' },
            // SPDY: exec is a POST, authorized as `create` on pods/exec by every API server version. kubectl's
            // default WebSocket exec is a GET that servers before 1.35 authorize as `get`, which the Role does not grant.
            { name: 'KUBECTL_REMOTE_COMMAND_WEBSOCKETS', value: 'false' },
          ],
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          securityContext: containerSecurity(),
          resources: resources('20m', '32Mi', '128Mi'),
        },
      ],
      volumes: [tmpVolume()],
    },
  });

  // Idempotent: an existing stanza that matches the cluster is left as it is. Retries until the
  // members and the repository host answer (a new cluster bootstraps meanwhile).
  const stanzaCreate = new k8s.batch.v1.Job(
    PGBACKREST_STANZA_CREATE_NAME,
    {
      metadata: metadata(PGBACKREST_STANZA_CREATE_NAME, 'postgres', namespace),
      spec: { backoffLimit: 8, activeDeadlineSeconds: 1800, template: kubectlPod(PGBACKREST_STANZA_CREATE_NAME, kubectlExecArgs(model, pgbackrestRepoCommand(model, 'stanza-create'))) },
    },
    { parent, dependsOn: [statefulSet, binding, ...dependsOn], customTimeouts: { create: '30m' } },
  );

  const backups = pgbackrestBackups(model).map(
    (b) =>
      new k8s.batch.v1.CronJob(
        b.name,
        {
          metadata: metadata(b.name, 'postgres', namespace),
          spec: {
            schedule: b.schedule,
            timeZone: model.config.ops.timeZone,
            concurrencyPolicy: 'Forbid',
            startingDeadlineSeconds: 3600,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 3,
            jobTemplate: {
              spec: {
                // pgBackRest's own lock refuses a second backup of the stanza; one retry for a transient failure.
                backoffLimit: 1,
                activeDeadlineSeconds: b.activeDeadlineSeconds,
                template: kubectlPod(b.name, kubectlExecArgs(model, pgbackrestRepoCommand(model, 'backup', `--type=${b.type}`))),
              },
            },
          },
        },
        { parent, dependsOn: [stanzaCreate] },
      ),
  );
  return { statefulSet, service, stanzaCreate, backups, role };
}

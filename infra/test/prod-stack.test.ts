import { basename } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import {
  migrationEnvironment,
  renderAlertmanagerConfig,
  renderHaproxyConfig,
  renderMariaDbCnf,
  renderMariaDbInitSql,
  renderNginxConf,
  pgbackrestTlsArchiveCommand,
  renderPatroniConfig,
  renderPgbouncerIni,
  renderPrometheusConfig,
  renderRedisAcl,
  renderRedisConf,
  serviceEnvironment,
  type PlatformModel,
  type PlatformSecrets,
} from '@numbering/blueprint';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as batch from 'kubernetes-models/batch/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOffline, type OfflineRun, type RegisteredResource } from '../src/offline/harness.js';
import { countByType } from '../src/offline/table.js';
import { checksum } from '../src/shared/checksum.js';
import { PGBACKREST_TLS_OPTIONS } from '../src/kubernetes/pgbackrest.js';
import { POSTGRES_PATHS } from '../src/shared/postgres.js';
import { expectedWorld, imageTag, inputs, isSecretAt, ofType, one, plaintextPasswordLeaks, type Json } from './support/graph.js';

const K = {
  deployment: 'kubernetes:apps/v1:Deployment',
  statefulSet: 'kubernetes:apps/v1:StatefulSet',
  job: 'kubernetes:batch/v1:Job',
  cronJob: 'kubernetes:batch/v1:CronJob',
  configMap: 'kubernetes:core/v1:ConfigMap',
  secret: 'kubernetes:core/v1:Secret',
  service: 'kubernetes:core/v1:Service',
  pdb: 'kubernetes:policy/v1:PodDisruptionBudget',
  networkPolicy: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
  hpa: 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler',
  role: 'kubernetes:rbac.authorization.k8s.io/v1:Role',
} as const;

type ModelClass = new (data: never) => { validate(): void };
/** kubernetes-models' classes by apiVersion and kind: each validates against the Kubernetes OpenAPI schema. */
const KUBERNETES_MODELS: Record<string, Record<string, ModelClass>> = {
  v1: core as unknown as Record<string, ModelClass>,
  'apps/v1': apps as unknown as Record<string, ModelClass>,
  'autoscaling/v2': autoscaling as unknown as Record<string, ModelClass>,
  'batch/v1': batch as unknown as Record<string, ModelClass>,
  'networking.k8s.io/v1': networking as unknown as Record<string, ModelClass>,
  'policy/v1': policy as unknown as Record<string, ModelClass>,
  'rbac.authorization.k8s.io/v1': rbac as unknown as Record<string, ModelClass>,
};

let run: OfflineRun;
let model: PlatformModel;
let secrets: PlatformSecrets;

const kubernetesObjects = () => run.resources.filter((r) => r.type.startsWith('kubernetes:'));
const obj = (type: string, name: string): Json => inputs(one(run, type, name));
const podSpec = (r: RegisteredResource): Json | undefined => {
  const spec = inputs(r).spec;
  if (r.type === K.cronJob) return spec.jobTemplate.spec.template.spec;
  if (r.type === K.deployment || r.type === K.statefulSet || r.type === K.job) return spec.template.spec;
  return undefined;
};
const workloads = () => kubernetesObjects().filter((r) => podSpec(r));
const longRunning = () => kubernetesObjects().filter((r) => r.type === K.deployment || r.type === K.statefulSet);
const nginxChecksum = (r: OfflineRun) => inputs(one(r, K.deployment, 'nginx')).spec.template.metadata.annotations['checksum/config'] as string;

beforeAll(async () => {
  run = await runOffline({ stack: 'prod', config: { 'numbering:canary.weight': '30', 'numbering:canary.canaryVersion': '1.1.0' } });
  ({ model, secrets } = await expectedWorld(run));
}, 120_000);

describe('prod stack (Kubernetes) under SDK mocks', () => {
  it('targets Kubernetes with the prod sizes from Pulumi.prod.yaml', () => {
    expect(model.target).toBe('kubernetes');
    expect(model.config.service.replicas).toBe(3);
    expect(model.redis.maxmemoryMb).toBe(1024);
    expect(model.redis.nodes[0]!.host).toBe('redis-0.redis.numbering.svc.cluster.local');
  });

  it('validates every Kubernetes object against the Kubernetes OpenAPI schema (kubernetes-models)', () => {
    const objects = kubernetesObjects();
    expect(objects.length).toBeGreaterThan(80);
    for (const r of objects) {
      const i = inputs(r);
      const Model = KUBERNETES_MODELS[i.apiVersion]?.[i.kind];
      expect(Model, `${i.apiVersion} ${i.kind} is a known kind`).toBeDefined();
      expect(() => new Model!(i as never).validate(), `${i.kind} ${r.name}`).not.toThrow();
    }
  });

  it('registers the expected resources by type and count', () => {
    const counts = countByType(run);
    expect(counts['kubernetes:core/v1:Namespace']).toBe(1);
    expect(counts[K.statefulSet]).toBe(4);
    expect(obj(K.statefulSet, 'pgbackrest').spec.replicas).toBe(1);
    expect(obj(K.statefulSet, 'redis').spec.replicas).toBe(6);
    expect(obj(K.statefulSet, 'mariadb').spec.replicas).toBe(1);
    expect(obj(K.statefulSet, 'postgres').spec.replicas).toBe(3);
    expect(ofType(run, K.deployment).map((r) => r.name).sort()).toEqual(
      ['alertmanager', 'grafana', 'haproxy', 'mysqld-exporter', 'nginx', 'numbering-canary', 'numbering-stable', 'pgbouncer', 'prometheus', 'redis-exporter'],
    );
    expect(ofType(run, K.job).map((r) => r.name).sort()).toEqual(['numbering-migrate', 'postgres-pgbackrest-stanza-create', 'redis-cluster-init']);
    expect(ofType(run, K.cronJob).map((r) => r.name).sort()).toEqual(
      [
        'ops-archive-audit',
        'ops-cleanup-reservations',
        'ops-integrity',
        'ops-mariadb-backup',
        'ops-redis-backup',
        'ops-yearly-reset',
        'postgres-backup',
        'postgres-pgbackrest-backup-diff',
        'postgres-pgbackrest-backup-full',
      ],
    );
    expect(ofType(run, 'kubernetes:core/v1:PersistentVolumeClaim').map((r) => r.name).sort()).toEqual(['alertmanager-data', 'mariadb-backups', 'postgres-backups', 'prometheus-data', 'redis-backups']);
    expect(ofType(run, K.hpa).map((r) => r.name)).toEqual(['numbering-stable']);
    expect(ofType(run, K.pdb).map((r) => r.name).sort()).toEqual(['haproxy', 'nginx', 'numbering-canary', 'numbering-stable', 'pgbouncer', 'postgres', 'redis']);
    expect(counts['random:index:RandomPassword']).toBe(15);
    expect(counts['tls:index:PrivateKey']).toBe(7);
    expect(counts['tls:index:SelfSignedCert']).toBe(1);
    expect(counts['tls:index:LocallySignedCert']).toBe(6);
    expect(counts['tls:index:CertRequest']).toBe(6);
    expect(ofType(run, K.role).map((r) => r.name).sort()).toEqual(['postgres', 'postgres-pgbackrest-backup', 'prometheus']);
  });

  it('gives every StatefulSet a volume per pod and a headless Service publishing not-ready pods where members must meet', () => {
    for (const name of ['redis', 'mariadb', 'postgres']) {
      const set = obj(K.statefulSet, name);
      expect(set.spec.volumeClaimTemplates?.[0]?.metadata.name, name).toBe('data');
      const svc = obj(K.service, set.spec.serviceName);
      expect(svc.spec.clusterIP, name).toBe('None');
    }
    expect(obj(K.service, 'redis').spec.publishNotReadyAddresses).toBe(true);
    expect(obj(K.service, 'postgres').spec.publishNotReadyAddresses).toBe(true);
  });

  it('probes every long-running container for readiness and liveness', () => {
    const checked: string[] = [];
    for (const r of longRunning()) {
      for (const c of podSpec(r).containers) {
        expect(c.readinessProbe, `${r.name}/${c.name} readiness`).toBeDefined();
        expect(c.livenessProbe, `${r.name}/${c.name} liveness`).toBeDefined();
        checked.push(`${r.name}/${c.name}`);
      }
    }
    // 13 + the pgbackrest sidecar of the Patroni pods + the repository host.
    expect(checked.length).toBe(15);
    const service = podSpec(one(run, K.deployment, 'numbering-stable')).containers[0];
    expect(service.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(service.livenessProbe.httpGet.path).toBe('/health');
    const patroni = podSpec(one(run, K.statefulSet, 'postgres')).containers[0];
    expect(patroni.readinessProbe.httpGet.path).toBe('/readiness');
    expect(patroni.livenessProbe.httpGet.path).toBe('/liveness');
  });

  it('runs every container non-root, without privilege escalation or capabilities, on a read-only root filesystem, with resources', () => {
    for (const r of workloads()) {
      const spec = podSpec(r);
      expect(spec.securityContext.runAsNonRoot, r.name).toBe(true);
      expect(spec.securityContext.runAsUser, r.name).toBeGreaterThan(0);
      expect(spec.securityContext.seccompProfile.type, r.name).toBe('RuntimeDefault');
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const sc = c.securityContext;
        expect(sc, `${r.name}/${c.name}`).toBeDefined();
        expect(sc.allowPrivilegeEscalation, `${r.name}/${c.name}`).toBe(false);
        expect(sc.readOnlyRootFilesystem, `${r.name}/${c.name}`).toBe(true);
        expect(sc.capabilities.drop, `${r.name}/${c.name}`).toEqual(['ALL']);
        expect(c.resources?.requests?.memory, `${r.name}/${c.name}`).toBeDefined();
        expect(c.resources?.limits?.memory, `${r.name}/${c.name}`).toBeDefined();
      }
    }
    expect(inputs(ofType(run, 'kubernetes:core/v1:Namespace')[0]!).metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('runs only pinned images (a version tag, never latest)', () => {
    const images = workloads().flatMap((r) => [...(podSpec(r).initContainers ?? []), ...podSpec(r).containers].map((c: Json) => c.image as string));
    expect(images.length).toBeGreaterThan(15);
    for (const ref of images) expect(imageTag(ref), ref).toMatch(/^v?[0-9]/);
    expect(podSpec(one(run, K.deployment, 'numbering-canary')).containers[0].image).toBe('ghcr.io/numbering/numbering-service:1.1.0');
    expect(podSpec(one(run, K.deployment, 'numbering-stable')).containers[0].image).toBe('ghcr.io/numbering/numbering-service:1.0.0');
    expect(podSpec(one(run, K.job, 'numbering-migrate')).containers[0].image).toBe('ghcr.io/numbering/numbering-service:1.1.0');
  });

  it('puts exactly the rendered configs into ConfigMaps and Secrets', () => {
    const redisConfig = obj(K.secret, 'redis-config').stringData;
    for (const node of model.redis.nodes) expect(redisConfig[`${node.name}.conf`]).toBe(renderRedisConf(model, node, secrets));
    expect(redisConfig['users.acl']).toBe(renderRedisAcl(model, secrets));
    expect(obj(K.configMap, 'mariadb-config').data['zz-numbering.cnf']).toBe(renderMariaDbCnf(model));
    expect(obj(K.secret, 'mariadb-init').stringData['init.sql']).toBe(renderMariaDbInitSql(model, secrets));
    const patroni = obj(K.secret, 'postgres-config').stringData;
    for (const member of model.postgres.members) {
      expect(patroni[`${member.name}.yml`]).toBe(
        renderPatroniConfig(model, member, secrets, { postBootstrapSqlFile: POSTGRES_PATHS.bootstrapSql, archiveCommand: pgbackrestTlsArchiveCommand(model, member, PGBACKREST_TLS_OPTIONS) }),
      );
    }
    expect(obj(K.configMap, 'haproxy-config').data['haproxy.cfg']).toBe(renderHaproxyConfig(model));
    expect(obj(K.configMap, 'pgbouncer-config').data['pgbouncer.ini']).toBe(renderPgbouncerIni(model));
    expect(obj(K.configMap, 'prometheus-config').data['prometheus.yml']).toBe(renderPrometheusConfig(model));
    expect(obj(K.secret, 'alertmanager-config').stringData['alertmanager.yml']).toBe(renderAlertmanagerConfig(model, secrets.alerting));
    expect(obj(K.configMap, 'nginx-config').data['nginx.conf']).toBe(renderNginxConf(model));
    expect(Object.keys(obj(K.configMap, 'grafana-dashboards').data).length).toBeGreaterThan(0);
    const [stable, canary] = model.service.releases;
    expect(obj(K.secret, 'numbering-stable-env').stringData).toEqual(serviceEnvironment(model, stable, secrets));
    expect(obj(K.secret, 'numbering-canary-env').stringData).toEqual(serviceEnvironment(model, canary, secrets));
    expect(obj(K.secret, 'numbering-migrate-env').stringData).toEqual(migrationEnvironment(model, secrets));
  });

  it('mounts each Redis node and Patroni member its own file by pod name', () => {
    const redis = podSpec(one(run, K.statefulSet, 'redis')).containers[0];
    expect(redis.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: '/etc/redis/redis.conf', subPathExpr: '$(POD_NAME).conf' }));
    const patroni = podSpec(one(run, K.statefulSet, 'postgres')).containers[0];
    expect(patroni.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: POSTGRES_PATHS.config, subPathExpr: '$(POD_NAME).yml' }));
    expect(patroni.env).toContainEqual(expect.objectContaining({ name: 'PATRONI_KUBERNETES_POD_IP' }));
    // Every member the model knows has its file (pod names are <set>-<ordinal>, as the model's member names).
    expect(model.postgres.members.map((m) => m.name)).toEqual(['postgres-0', 'postgres-1', 'postgres-2']);
  });

  it('lets Patroni use the Kubernetes API as DCS through its own ServiceAccount and Role', () => {
    const spec = podSpec(one(run, K.statefulSet, 'postgres'));
    expect(spec.serviceAccountName).toBe('postgres');
    const rules = obj(K.role, 'postgres').rules as Json[];
    const verbs = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs);
    expect(verbs('endpoints')).toEqual(expect.arrayContaining(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']));
    expect(verbs('configmaps')).toEqual(expect.arrayContaining(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']));
    expect(verbs('pods')).toEqual(expect.arrayContaining(['get', 'list', 'watch', 'patch', 'update']));
    expect(verbs('services')).toContain('create');
    const binding = obj('kubernetes:rbac.authorization.k8s.io/v1:RoleBinding', 'postgres');
    expect(binding.subjects[0]).toMatchObject({ kind: 'ServiceAccount', name: 'postgres' });
    // The pods carry the labels Patroni selects its members by.
    const labels = spec && inputs(one(run, K.statefulSet, 'postgres')).spec.template.metadata.labels;
    if (model.postgres.dcs.kind !== 'kubernetes') throw new Error('expected the kubernetes DCS');
    expect(labels).toMatchObject(model.postgres.dcs.labels);
  });

  it('scales the stable release with an HPA (and leaves its replica count to it)', () => {
    const hpa = obj(K.hpa, 'numbering-stable').spec;
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'numbering-stable' });
    expect(hpa.minReplicas).toBe(3);
    expect(hpa.maxReplicas).toBe(12);
    expect(obj(K.deployment, 'numbering-stable').spec.replicas).toBeUndefined();
    expect(obj(K.deployment, 'numbering-canary').spec.replicas).toBe(3);
  });

  it('backs up MariaDB, Redis and PostgreSQL nightly to their own volumes without a password in the object', () => {
    for (const name of ['ops-mariadb-backup', 'ops-redis-backup', 'postgres-backup']) {
      const cron = obj(K.cronJob, name);
      expect(cron.spec.schedule, name).toMatch(/^\d+ \d+ \* \* \*$/);
      expect(cron.spec.concurrencyPolicy).toBe('Forbid');
      const pod = cron.spec.jobTemplate.spec.template.spec;
      const c = pod.containers[0];
      expect(c.env.filter((e: Json) => e.valueFrom?.secretKeyRef).length, name).toBeGreaterThan(0);
      expect(c.env.every((e: Json) => e.valueFrom || !/PASSWORD|PWD|SECRET/.test(e.name)), name).toBe(true);
      const backups = pod.volumes.find((v: Json) => v.name === 'backups');
      expect(backups.persistentVolumeClaim.claimName, name).toBe(name.replace(/^ops-/, '').replace(/-backup$/, '-backups'));
      expect(c.volumeMounts).toContainEqual({ name: 'backups', mountPath: '/backup' });
    }
  });

  it('sends 30 % to the canary and rolls nginx when the weight changes', async () => {
    const conf = obj(K.configMap, 'nginx-config').data['nginx.conf'] as string;
    expect(conf).toContain(`server numbering-stable.numbering.svc.cluster.local:3000 weight=70 `);
    expect(conf).toContain(`server numbering-canary.numbering.svc.cluster.local:3000 weight=30 `);
    const annotations = obj(K.deployment, 'nginx').spec.template.metadata.annotations;
    expect(annotations['checksum/config']).toBe(checksum(conf));
    expect(annotations['numbering.io/canary-weight']).toBe('30');
    expect(obj(K.deployment, 'nginx').spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });

    // `pulumi config set canary.weight 31`: another file, another pod template, a rollout.
    const moved = await runOffline({ stack: 'prod', config: { 'numbering:canary.weight': '31', 'numbering:canary.canaryVersion': '1.1.0' } });
    expect(inputs(one(moved, K.configMap, 'nginx-config')).data['nginx.conf']).toContain('weight=31');
    expect(nginxChecksum(moved)).not.toBe(nginxChecksum(run));
    // ... and back: the same weight gives the same template, so nothing rolls without a change.
    const again = await runOffline({ stack: 'prod', config: { 'numbering:canary.weight': '30', 'numbering:canary.canaryVersion': '1.1.0' } });
    expect(nginxChecksum(again)).toBe(nginxChecksum(run));
  }, 120_000);

  it('keeps every generated password secret; the Redis init Job reads the admin password from the environment', async () => {
    expect(plaintextPasswordLeaks(run)).toEqual([]);
    for (const s of ofType(run, K.secret)) expect(isSecretAt(s, 'stringData'), s.name).toBe(true);
    const init = podSpec(one(run, K.job, 'redis-cluster-init')).containers[0];
    expect(init.args).toContain('$(REDIS_ADMIN_PASSWORD)');
    expect(init.env).toContainEqual({ name: 'REDIS_ADMIN_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-credentials', key: 'admin' } } });
    expect(await pulumi.isSecret(run.program.credentials as pulumi.Output<unknown>)).toBe(true);
    expect(await pulumi.isSecret(run.program.grafanaAdminPassword as pulumi.Output<unknown>)).toBe(true);
  });

  it('denies all traffic by default and opens a NetworkPolicy for every Service port', () => {
    const policies = ofType(run, K.networkPolicy).map((p) => inputs(p).spec);
    expect(obj(K.networkPolicy, 'default-deny').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const svc of ofType(run, K.service)) {
      const spec = inputs(svc).spec;
      if (!spec.selector) continue; // Patroni's leader Service: Patroni fills its endpoints
      const podLabels = workloads().map((w) => inputs(w).spec.template?.metadata.labels).find((l) => l && selects(spec.selector, l));
      expect(podLabels, `pods behind Service ${svc.name}`).toBeDefined();
      for (const port of spec.ports as Json[]) {
        const open = policies.some(
          (p) => p.ingress && selects(p.podSelector.matchLabels ?? {}, podLabels) && p.ingress.some((rule: Json) => rule.ports.some((pp: Json) => pp.port === port.targetPort)),
        );
        expect(open, `Service ${svc.name} port ${port.name} (${port.targetPort}) is allowed by a NetworkPolicy`).toBe(true);
      }
    }
  });

  it('names every workload\'s config and credentials by reference, never by a plain value', () => {
    for (const r of workloads()) {
      for (const c of podSpec(r).containers) {
        for (const e of c.env ?? []) {
          if (/PASSWORD|PWD|TOKEN|SECRET/.test(e.name) && !e.name.endsWith('_FILE')) expect(e.valueFrom?.secretKeyRef, `${r.name}/${c.name} ${e.name}`).toBeDefined();
        }
      }
    }
    expect(basename(POSTGRES_PATHS.config)).toBe('patroni.yml');
  });
});

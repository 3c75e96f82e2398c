import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  defaultPlatformConfig,
  PGBACKREST_MEMBER_CLIENT_CN,
  PGBACKREST_REPO_CLIENT_CN,
  renderPgbackrestMemberConf,
  renderPgbackrestRepoHostConf,
  type PlatformModel,
} from '@numbering/blueprint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseStackConfig } from '../src/config.js';
import { forEachPlainString, runOffline, type OfflineRun, type RegisteredResource } from '../src/offline/harness.js';
import { PGBACKREST_PATHS, PGBACKREST_TLS_OPTIONS } from '../src/kubernetes/pgbackrest.js';
import { POSTGRES_GID, POSTGRES_PATHS } from '../src/shared/postgres.js';
import { REPO_ROOT } from '../src/shared/service.js';
import { expectedWorld, inputs, isSecretAt, ofType, one, type Json } from './support/graph.js';

/** pgBackRest on the prod stack: repository host, member sidecars, TLS material, jobs, RBAC and NetworkPolicies. */

const K = {
  statefulSet: 'kubernetes:apps/v1:StatefulSet',
  job: 'kubernetes:batch/v1:Job',
  cronJob: 'kubernetes:batch/v1:CronJob',
  configMap: 'kubernetes:core/v1:ConfigMap',
  secret: 'kubernetes:core/v1:Secret',
  service: 'kubernetes:core/v1:Service',
  networkPolicy: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
  role: 'kubernetes:rbac.authorization.k8s.io/v1:Role',
  roleBinding: 'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding',
  csr: 'tls:index/certRequest:CertRequest',
  signed: 'tls:index/locallySignedCert:LocallySignedCert',
  selfSigned: 'tls:index/selfSignedCert:SelfSignedCert',
} as const;

let run: OfflineRun;
let model: PlatformModel;
const obj = (type: string, name: string): Json => inputs(one(run, type, name));
const pod = (type: string, name: string): Json => (type === K.cronJob ? obj(type, name).spec.jobTemplate.spec.template.spec : obj(type, name).spec.template.spec);
const container = (spec: Json, name: string): Json => spec.containers.find((c: Json) => c.name === name);
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

const STANZA = 'numbering-pg';
const REPO_HOST = 'pgbackrest-0.pgbackrest.numbering.svc.cluster.local';
const onRepoHost = (...args: string[]) => ['exec', '--namespace=numbering', 'pgbackrest-0', '-c', 'pgbackrest', '--', 'pgbackrest', '--config=/etc/pgbackrest/pgbackrest.conf', `--stanza=${STANZA}`, ...args];

beforeAll(async () => {
  run = await runOffline({ stack: 'prod' });
  ({ model } = await expectedWorld(run));
}, 120_000);

describe('pgBackRest on the prod stack: the Patroni pods', () => {
  it('runs Patroni and a `pgbackrest server` sidecar from the pinned pgbackrest image', () => {
    const spec = pod(K.statefulSet, 'postgres');
    expect(spec.containers.map((c: Json) => c.name)).toEqual(['patroni', 'pgbackrest']);
    const image = 'ghcr.io/numbering/patroni-pgbackrest:3.3-p3';
    expect(model.config.postgres.pgbackrestImage).toBe(image);
    expect(container(spec, 'patroni').image).toBe(image);
    const sidecar = container(spec, 'pgbackrest');
    expect(sidecar.image).toBe(image);
    expect(sidecar.command).toEqual(['pgbackrest', '--config=/etc/pgbackrest/pgbackrest.conf', 'server']);
    expect(sidecar.ports).toEqual([{ name: 'pgbackrest', containerPort: 8432 }]);
    for (const probe of [sidecar.readinessProbe, sidecar.livenessProbe]) {
      expect(probe.exec.command).toEqual(['pgbackrest', '--config=/etc/pgbackrest/pgbackrest.conf', '--log-level-file=off', '--log-level-console=warn', 'server-ping', '127.0.0.1']);
    }
    expect(sidecar.env).toContainEqual(expect.objectContaining({ name: 'POD_NAME' }));
    // The pg_dump fallback keeps the plain Spilo image.
    expect(pod(K.cronJob, 'postgres-backup').containers[0].image).toBe(model.config.postgres.image);
  });

  it('shares PGDATA, the socket dir and /tmp (locks) with Patroni, and mounts each member its own config and server certificate', () => {
    const spec = pod(K.statefulSet, 'postgres');
    const sidecar = container(spec, 'pgbackrest').volumeMounts as Json[];
    const patroni = container(spec, 'patroni').volumeMounts as Json[];
    const at = (mounts: Json[], path: string) => mounts.find((m) => m.mountPath === path);
    for (const path of [POSTGRES_PATHS.dataRoot, POSTGRES_PATHS.socketDir, '/tmp']) expect(at(sidecar, path)?.name, path).toBe(at(patroni, path)?.name);
    for (const mounts of [sidecar, patroni]) {
      expect(at(mounts, PGBACKREST_PATHS.configFile)).toEqual({ name: 'pgbackrest-config', mountPath: PGBACKREST_PATHS.configFile, subPathExpr: '$(POD_NAME).conf', readOnly: true });
      for (const f of ['ca.crt', 'client.crt', 'client.key']) expect(at(mounts, `/etc/pgbackrest/tls/${f}`), f).toMatchObject({ name: 'pgbackrest-tls', subPath: f, readOnly: true });
      for (const path of [PGBACKREST_PATHS.logPath, PGBACKREST_PATHS.spoolPath]) expect(at(mounts, path), path).toBeDefined();
    }
    expect(at(sidecar, '/etc/pgbackrest/tls/server.crt')).toMatchObject({ subPathExpr: '$(POD_NAME)-server.crt' });
    expect(at(sidecar, '/etc/pgbackrest/tls/server.key')).toMatchObject({ subPathExpr: '$(POD_NAME)-server.key' });
    // Archive-push needs no server key: only the sidecar mounts one.
    expect(at(patroni, '/etc/pgbackrest/tls/server.key')).toBeUndefined();
    const tlsVolume = spec.volumes.find((v: Json) => v.name === 'pgbackrest-tls');
    expect(tlsVolume.secret).toEqual({ secretName: 'postgres-pgbackrest-tls', defaultMode: 0o440 });
    expect(spec.securityContext.fsGroup).toBe(POSTGRES_GID);
  });

  it("renders every member's patroni.yml with the pgbackrest archive_command and its pgbackrest.conf", () => {
    const files = obj(K.secret, 'postgres-config').stringData;
    const configs = obj(K.configMap, 'postgres-pgbackrest-config').data;
    for (const m of model.postgres.members) {
      const params = parse(files[`${m.name}.yml`]).postgresql.parameters;
      expect(params.archive_mode).toBe('on');
      expect(params.archive_command).toBe(`pgbackrest --config=${PGBACKREST_PATHS.configFile} --stanza=${STANZA} archive-push %p`);
      expect(configs[`${m.name}.conf`]).toBe(renderPgbackrestMemberConf(model, m, PGBACKREST_TLS_OPTIONS));
      expect(configs[`${m.name}.conf`]).toContain(`repo1-host=${REPO_HOST}\n`);
    }
    expect(Object.keys(configs).sort()).toEqual(['postgres-0.conf', 'postgres-1.conf', 'postgres-2.conf']);
    // A certificate or config change restarts the members.
    expect(inputs(one(run, K.statefulSet, 'postgres')).spec.template.metadata.annotations['checksum/pgbackrest']).toMatch(/^[0-9a-f]{16,}$/);
  });

  it('publishes the sidecar port on the headless Service of the members', () => {
    expect(obj(K.service, 'postgres').spec.ports).toContainEqual({ name: 'pgbackrest', port: 8432, targetPort: 8432, protocol: 'TCP' });
  });
});

describe('pgBackRest on the prod stack: the repository host', () => {
  it('is a one-pod StatefulSet behind the headless Service pgbackrest, with its own repository volume', () => {
    const set = obj(K.statefulSet, 'pgbackrest').spec;
    expect(set.replicas).toBe(1);
    expect(set.serviceName).toBe('pgbackrest');
    expect(set.volumeClaimTemplates).toEqual([{ metadata: { name: 'repo' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '60Gi' } } } }]);
    const svc = obj(K.service, 'pgbackrest').spec;
    expect(svc.clusterIP).toBe('None');
    expect(svc.ports).toEqual([{ name: 'pgbackrest', port: 8432, targetPort: 8432, protocol: 'TCP' }]);
    expect(selects(svc.selector, set.template.metadata.labels)).toBe(true);
    // The pod DNS name the members' repo1-host and the server certificate use.
    expect(model.postgres.pgbackrest.repoHost).toBe(REPO_HOST);
    const c = set.template.spec.containers[0];
    expect(c.name).toBe('pgbackrest');
    expect(c.image).toBe(model.config.postgres.pgbackrestImage);
    expect(c.command).toEqual(['pgbackrest', '--config=/etc/pgbackrest/pgbackrest.conf', 'server']);
    expect(c.readinessProbe.exec.command).toContain('server-ping');
    expect(c.volumeMounts).toContainEqual({ name: 'repo', mountPath: PGBACKREST_PATHS.repoPath });
    expect(c.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/pgbackrest/tls', readOnly: true });
    expect(set.template.spec.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'pgbackrest-tls', defaultMode: 0o440 } });
    expect(set.template.spec.automountServiceAccountToken).toBe(false);
  });

  it('reads the rendered repository-host config', () => {
    const conf = obj(K.configMap, 'pgbackrest-config').data['pgbackrest.conf'];
    expect(conf).toBe(renderPgbackrestRepoHostConf(model, PGBACKREST_TLS_OPTIONS));
    expect(conf).toContain(`repo1-path=${PGBACKREST_PATHS.repoPath}\n`);
    for (const [i, m] of model.postgres.members.entries()) expect(conf).toContain(`pg${i + 1}-host=${m.host}\n`);
  });
});

describe('pgBackRest on the prod stack: TLS material', () => {
  const secretKeys = (name: string) => Object.keys(obj(K.secret, name).stringData).sort();

  it('issues server certificates for the pod DNS names (DNS SANs) and client certificates with the CNs the configs admit', () => {
    const csr = (name: string) => obj(K.csr, `${name}-csr`);
    for (const m of model.postgres.members) {
      expect(csr(`pgbackrest-${m.name}-server`).dnsNames).toEqual([m.host]);
      expect(csr(`pgbackrest-${m.name}-server`).subject.commonName).toBe(m.host);
      expect(obj(K.signed, `pgbackrest-${m.name}-server`).allowedUses).toContain('server_auth');
    }
    expect(csr('pgbackrest-repo-server').dnsNames).toEqual([REPO_HOST]);
    expect(csr('pgbackrest-repo-client').subject.commonName).toBe(PGBACKREST_REPO_CLIENT_CN);
    expect(csr('pgbackrest-postgres-client').subject.commonName).toBe(PGBACKREST_MEMBER_CLIENT_CN);
    expect(obj(K.signed, 'pgbackrest-repo-client').allowedUses).toContain('client_auth');
    expect(obj(K.signed, 'pgbackrest-repo-client').allowedUses).not.toContain('server_auth');
    expect(obj(K.selfSigned, 'pgbackrest-ca')).toMatchObject({ isCaCertificate: true, allowedUses: ['cert_signing', 'crl_signing'] });
    // Each side admits the other's client CN for the stanza only.
    expect(obj(K.configMap, 'pgbackrest-config').data['pgbackrest.conf']).toContain(`tls-server-auth=${PGBACKREST_MEMBER_CLIENT_CN}=${STANZA}\n`);
    expect(obj(K.configMap, 'postgres-pgbackrest-config').data['postgres-0.conf']).toContain(`tls-server-auth=${PGBACKREST_REPO_CLIENT_CN}=${STANZA}\n`);
  });

  it('keeps private keys in secret Secrets and secret inputs only; the CA key reaches no Kubernetes object', () => {
    expect(run.privateKeys.length).toBe(7);
    expect(secretKeys('postgres-pgbackrest-tls')).toEqual(['ca.crt', 'client.crt', 'client.key', 'postgres-0-server.crt', 'postgres-0-server.key', 'postgres-1-server.crt', 'postgres-1-server.key', 'postgres-2-server.crt', 'postgres-2-server.key']);
    expect(secretKeys('pgbackrest-tls')).toEqual(['ca.crt', 'client.crt', 'client.key', 'server.crt', 'server.key']);
    for (const name of ['postgres-pgbackrest-tls', 'pgbackrest-tls']) expect(isSecretAt(one(run, K.secret, name), 'stringData'), name).toBe(true);
    const leaks: string[] = [];
    for (const r of run.resources) {
      forEachPlainString(r.raw, (s, path) => {
        if (run.privateKeys.some((k) => s.includes(k))) leaks.push(`${r.type} ${r.name}: ${path}`);
      });
    }
    expect(leaks).toEqual([]);
    for (const r of ofType(run, K.csr)) expect(isSecretAt(r, 'privateKeyPem'), r.name).toBe(true);
    for (const r of ofType(run, K.signed)) expect(isSecretAt(r, 'caPrivateKeyPem'), r.name).toBe(true);
    // Every key in a Secret is one of the generated ones; the CA's is in none of them.
    const inSecrets = ofType(run, K.secret).flatMap((s: RegisteredResource) => Object.values(inputs(s).stringData ?? {}) as string[]);
    const keysInSecrets = run.privateKeys.filter((k) => inSecrets.includes(k));
    expect(keysInSecrets.length).toBe(6);
    const everything = JSON.stringify(run.resources.filter((r) => r.type.startsWith('kubernetes:')).map((r) => r.inputs));
    expect(run.privateKeys.filter((k) => !everything.includes(k.replaceAll('\n', '\\n'))).length).toBe(1);
  });
});

describe('pgBackRest on the prod stack: jobs and RBAC', () => {
  it('lets the jobs exec into pgbackrest-0 and read that pod, nothing else', () => {
    expect(obj(K.role, 'postgres-pgbackrest-backup').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], resourceNames: ['pgbackrest-0'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: ['pgbackrest-0'], verbs: ['create'] },
    ]);
    const binding = obj(K.roleBinding, 'postgres-pgbackrest-backup');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'postgres-pgbackrest-backup' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'postgres-pgbackrest-backup', namespace: 'numbering' }]);
  });

  it('backs up weekly (full) and daily (diff) on the repository host through kubectl exec', () => {
    const expected = { 'postgres-pgbackrest-backup-full': ['13 1 * * 0', 'full', 6 * 3600], 'postgres-pgbackrest-backup-diff': ['13 1 * * 1-6', 'diff', 3 * 3600] } as const;
    for (const [name, [schedule, type, deadline]] of Object.entries(expected)) {
      const cron = obj(K.cronJob, name).spec;
      expect(cron).toMatchObject({ schedule, timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 3600 });
      expect(cron.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: deadline });
      const spec = pod(K.cronJob, name);
      expect(spec.serviceAccountName).toBe('postgres-pgbackrest-backup');
      expect(spec.automountServiceAccountToken).toBe(true);
      const c = spec.containers[0];
      expect(c.image).toBe('registry.k8s.io/kubectl:v1.31.4');
      expect(c.args).toEqual(onRepoHost('backup', `--type=${type}`));
      expect(c.env).toContainEqual({ name: 'KUBECTL_REMOTE_COMMAND_WEBSOCKETS', value: 'false' });
    }
  });

  it('creates the stanza once with a Job on the repository host (idempotent, retried until the cluster answers)', () => {
    const job = obj(K.job, 'postgres-pgbackrest-stanza-create').spec;
    expect(job.backoffLimit).toBeGreaterThan(0);
    expect(job.template.spec.containers[0].args).toEqual(onRepoHost('stanza-create'));
    expect(job.template.spec.serviceAccountName).toBe('postgres-pgbackrest-backup');
  });

  it('follows the schedule and image keys', async () => {
    const other = await runOffline({
      stack: 'prod',
      config: { 'numbering:postgres.pgbackrestFullSchedule': '0 3 * * 6', 'numbering:postgres.kubectlImage': 'registry.k8s.io/kubectl:v1.32.0', 'numbering:ops.timeZone': 'Europe/Berlin' },
    });
    const cron = inputs(one(other, K.cronJob, 'postgres-pgbackrest-backup-full')).spec;
    expect(cron.schedule).toBe('0 3 * * 6');
    expect(cron.timeZone).toBe('Europe/Berlin');
    expect(cron.jobTemplate.spec.template.spec.containers[0].image).toBe('registry.k8s.io/kubectl:v1.32.0');
    expect(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:postgres.pgbackrestImage': 'ghcr.io/numbering/patroni-pgbackrest:latest' }, 'prod')).toThrow(/postgres\.pgbackrestImage: .*latest/);
    expect(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:postgres.pgbackrestDiffSchedule': 'daily' }, 'prod')).toThrow(/postgres\.pgbackrestDiffSchedule/);
  }, 120_000);
});

describe('pgBackRest on the prod stack: NetworkPolicies', () => {
  it('opens 8432 only between the Patroni pods and the repository host, and the API server to the jobs', () => {
    const policies = ofType(run, K.networkPolicy).map((p) => ({ name: p.name, spec: inputs(p).spec }));
    const opening = policies.filter((p) => p.spec.ingress?.some((rule: Json) => rule.ports?.some((port: Json) => port.port === 8432)));
    expect(opening.map((p) => p.name).sort()).toEqual(['allow-patroni-pgbackrest', 'allow-pgbackrest-repo']);
    const postgresPods = inputs(one(run, K.statefulSet, 'postgres')).spec.template.metadata.labels;
    const repoPods = inputs(one(run, K.statefulSet, 'pgbackrest')).spec.template.metadata.labels;
    const from = (name: string) => opening.find((p) => p.name === name)!.spec;
    expect(selects(from('allow-pgbackrest-repo').podSelector.matchLabels, repoPods)).toBe(true);
    expect(from('allow-pgbackrest-repo').ingress).toEqual([{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'postgres', 'app.kubernetes.io/part-of': 'numbering' } } }], ports: [{ protocol: 'TCP', port: 8432 }] }]);
    expect(selects(from('allow-patroni-pgbackrest').podSelector.matchLabels, postgresPods)).toBe(true);
    expect(from('allow-patroni-pgbackrest').ingress[0].from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'pgbackrest', 'app.kubernetes.io/part-of': 'numbering' } } }]);
    const api = policies.find((p) => p.name === 'allow-pgbackrest-jobs-kubernetes-api')!.spec;
    for (const name of ['postgres-pgbackrest-backup-full', 'postgres-pgbackrest-backup-diff']) {
      expect(selects(api.podSelector.matchLabels, obj(K.cronJob, name).spec.jobTemplate.spec.template.metadata.labels), name).toBe(true);
    }
    expect(selects(api.podSelector.matchLabels, obj(K.job, 'postgres-pgbackrest-stanza-create').spec.template.metadata.labels)).toBe(true);
    expect(api.egress[0].ports).toEqual([{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }]);
  });
});

describe('the patroni-pgbackrest image', () => {
  it('derives from postgres.image and installs the distribution pgbackrest', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'infra/images/patroni-pgbackrest/Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ARG SPILO_IMAGE=${defaultPlatformConfig('kubernetes').postgres.image}\n`);
    expect(dockerfile).toMatch(/^FROM \$\{SPILO_IMAGE\}$/m);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends pgbackrest/);
    expect(dockerfile).toMatch(/^USER 101:103$/m);
    // Tagged after the Spilo tag it derives from.
    expect(model.config.postgres.pgbackrestImage.split(':').pop()).toBe(model.config.postgres.image.split(':').pop());
  });
});

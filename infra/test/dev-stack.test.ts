import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import {
  ALERT_RULES_FILE,
  migrationEnvironment,
  renderAlertmanagerConfig,
  renderHaproxyConfig,
  renderMariaDbCnf,
  renderMariaDbInitSql,
  renderNginxConf,
  renderPatroniConfig,
  renderPrometheusConfig,
  renderRedisAcl,
  renderRedisConf,
  serviceEnvironment,
  type PlatformModel,
  type PlatformSecrets,
} from '@numbering/blueprint';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOffline, valueOf, type OfflineRun } from '../src/offline/harness.js';
import { countByType, renderPreviewTable, resourceTree } from '../src/offline/table.js';
import { POSTGRES_PATHS } from '../src/shared/postgres.js';
import { REPO_ROOT, SERVICE_DOCKERFILE } from '../src/shared/service.js';
import { CONTAINER, expectedWorld, imageTag, inputs, isSecretAt, ofType, one, plaintextPasswordLeaks, type Json } from './support/graph.js';

// The dev stack as Pulumi.yaml + Pulumi.dev.yaml define it, with traffic moved to the canary and
// every alert receiver configured (as `pulumi config set --secret` would store them).
const ALERTING = {
  'numbering:alerting.slackWebhookUrl': 'https://hooks.slack.example/services/T0/B0/dev',
  'numbering:alerting.pagerdutyRoutingKey': 'pagerduty-routing-key-dev',
  'numbering:alerting.telegramWebhookUrl': 'https://bridge.example/telegram/dev',
};

let run: OfflineRun;
let model: PlatformModel;
let secrets: PlatformSecrets;
const containers = () => ofType(run, CONTAINER);
const container = (name: string) => inputs(one(run, CONTAINER, name));
const upload = (name: string, file: string): string => {
  const found = (container(name).uploads ?? []).filter((u: Json) => u.file === file);
  expect(found, `${name} uploads ${file}`).toHaveLength(1);
  return found[0].content;
};
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const isOneShot = (c: Json) => c.labels.some((l: Json) => l.label === 'numbering.io/one-shot' && l.value === 'true');

beforeAll(async () => {
  run = await runOffline({ stack: 'dev', config: { 'numbering:canary.weight': '30', ...ALERTING }, secretKeys: Object.keys(ALERTING) });
  ({ model, secrets } = await expectedWorld(run));
}, 120_000);

describe('dev stack (Docker) under SDK mocks', () => {
  it('targets Docker with the model built from Pulumi.yaml + Pulumi.dev.yaml', () => {
    expect(model.target).toBe('docker');
    expect(run.outputs.target).toBe('docker');
    expect(model.canary.weight).toBe(30);
  });

  it('declares one component per platform part, each parenting its resources', () => {
    const components = run.resources.filter((r) => r.type.startsWith('numbering:')).map((r) => r.type).sort();
    expect(components).toEqual([
      'numbering:canary:Nginx',
      'numbering:docker:Network',
      'numbering:mariadb:MariaDb',
      'numbering:monitoring:Monitoring',
      'numbering:platform:Credentials',
      'numbering:postgres:PatroniCluster',
      'numbering:redis:Cluster',
      'numbering:service:NumberingService',
    ]);
    for (const r of run.resources.filter((x) => !x.type.startsWith('numbering:') && x.type !== 'pulumi:pulumi:Stack')) {
      expect(r.parent?.type, `${r.type} ${r.name} is parented to a component`).toMatch(/^numbering:/);
    }
  });

  it('registers the expected resources by type and count', () => {
    const counts = countByType(run);
    const nodes = model.redis.nodes.length;
    const releases = 2 * model.service.replicas;
    expect(nodes).toBe(6);
    expect(counts['random:index:RandomPassword']).toBe(15);
    expect(counts['docker:index:Network']).toBe(1);
    expect(counts['docker:index:Image']).toBe(1); // stable and canary share the tag 1.0.0
    // redis nodes + cluster init + exporter, mariadb + exporter, 3 etcd + 3 patroni + haproxy + pgbouncer,
    // migration + service replicas, nginx, prometheus + alertmanager + grafana
    expect(counts['docker:index:Container']).toBe(nodes + 2 + 2 + 3 + 3 + 2 + 1 + releases + 1 + 3);
    expect(counts['docker:index:Volume']).toBe(nodes + 1 + 3 + 3 + 3);
    const names = containers().map((c) => c.name);
    expect(names.filter((n) => /^redis-\d$/.test(n))).toHaveLength(6);
    expect(names.filter((n) => /^etcd-\d$/.test(n))).toHaveLength(3);
    expect(names.filter((n) => /^postgres-\d$/.test(n))).toHaveLength(3);
    expect(names.filter((n) => n.startsWith('numbering-stable-'))).toHaveLength(model.service.replicas);
    expect(names.filter((n) => n.startsWith('numbering-canary-'))).toHaveLength(model.service.replicas);
  });

  it('gives every long-running container a healthcheck and a restart policy; one-shots neither restart nor run again', () => {
    const oneShots = containers().filter((c) => isOneShot(inputs(c))).map((c) => c.name).sort();
    expect(oneShots).toEqual(['numbering-migrate', 'redis-cluster-init']);
    for (const c of containers()) {
      const i = inputs(c);
      if (isOneShot(i)) {
        expect(i.restart, c.name).toBe('no');
        expect(i.mustRun, c.name).toBe(false);
        continue;
      }
      expect(i.healthcheck?.tests?.length, `${c.name} has a healthcheck`).toBeGreaterThan(1);
      expect(i.healthcheck.tests[0], c.name).toMatch(/^CMD(-SHELL)?$/);
      expect(i.restart, c.name).toBe('unless-stopped');
    }
  });

  it('runs only pinned images: containers use the pulled or built image IDs, every tag is a version', () => {
    // The mocked providers return sha256(reference) as the ID, as the real ones return the image ID.
    const ids = new Map<string, string>();
    for (const r of ofType(run, 'docker:index/remoteImage:RemoteImage')) ids.set(`sha256:${sha256(inputs(r).name)}`, inputs(r).name);
    for (const r of ofType(run, 'docker:index/image:Image')) ids.set(`sha256:${sha256(`built:${inputs(r).imageName}`)}`, inputs(r).imageName);
    expect(ids.size).toBe(ofType(run, 'docker:index/remoteImage:RemoteImage').length + ofType(run, 'docker:index/image:Image').length);
    for (const ref of ids.values()) {
      expect(imageTag(ref), ref).toBeDefined();
      expect(imageTag(ref), ref).not.toBe('latest');
    }
    for (const c of containers()) {
      const ref = ids.get(container(c.name).image);
      expect(ref, `${c.name} runs a pulled or built image`).toBeDefined();
      expect(imageTag(ref!), `${c.name}: ${ref}`).toMatch(/^v?[0-9]/);
    }
  });

  it('builds the service image from services/numbering/Dockerfile with the release tag', () => {
    const [image] = ofType(run, 'docker:index/image:Image');
    const i = inputs(image!);
    expect(i.imageName).toBe(`${model.config.service.image}:${model.config.canary.stableVersion}`);
    expect(i.build.context).toBe(REPO_ROOT);
    expect(i.build.dockerfile).toBe(join(REPO_ROOT, SERVICE_DOCKERFILE));
    expect(i.skipPush).toBe(true);
  });

  it('services/numbering/Dockerfile exists where the build looks for it', () => {
    expect(existsSync(join(REPO_ROOT, SERVICE_DOCKERFILE))).toBe(true);
  });

  it('uploads exactly the rendered configs into the containers', () => {
    for (const node of model.redis.nodes) {
      expect(upload(node.name, '/etc/redis/redis.conf')).toBe(renderRedisConf(model, node, secrets));
      expect(upload(node.name, model.redis.aclFile)).toBe(renderRedisAcl(model, secrets));
    }
    expect(upload('mariadb', '/etc/mysql/conf.d/zz-numbering.cnf')).toBe(renderMariaDbCnf(model));
    expect(upload('mariadb', '/etc/mysql/numbering/init.sql')).toBe(renderMariaDbInitSql(model, secrets));
    for (const member of model.postgres.members) {
      expect(upload(member.name, POSTGRES_PATHS.config)).toBe(renderPatroniConfig(model, member, secrets, { postBootstrapSqlFile: POSTGRES_PATHS.bootstrapSql }));
    }
    expect(upload('haproxy', POSTGRES_PATHS.haproxyConfig)).toBe(renderHaproxyConfig(model));
    expect(upload('prometheus', '/etc/prometheus/prometheus.yml')).toBe(renderPrometheusConfig(model));
    expect(upload('prometheus', `/etc/prometheus/${ALERT_RULES_FILE}`)).toContain('groups:');
    expect(upload('alertmanager', '/etc/alertmanager/alertmanager.yml')).toBe(renderAlertmanagerConfig(model, secrets.alerting));
    expect(upload('nginx', '/etc/nginx/nginx.conf')).toBe(renderNginxConf(model));
    const dashboards = (container('grafana').uploads as Json[]).filter((u) => u.file.startsWith('/etc/grafana/dashboards/'));
    expect(dashboards.length).toBeGreaterThan(0);
    for (const d of dashboards) expect(() => JSON.parse(d.content)).not.toThrow();
  });

  it('sends 30 % of requests to the canary when canary.weight is 30', () => {
    const conf = upload('nginx', '/etc/nginx/nginx.conf');
    expect(conf).toMatch(/server numbering-stable:3000 weight=70 /);
    expect(conf).toMatch(/server numbering-canary:3000 weight=30 /);
    expect(run.outputs.canary).toMatchObject({ weight: 30 });
  });

  it('gives the service and the migration exactly the blueprint environment', () => {
    const env = (name: string) => Object.fromEntries((container(name).envs as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const [stable, canary] = model.service.releases;
    expect(env('numbering-stable-0')).toEqual(serviceEnvironment(model, stable, secrets));
    expect(env('numbering-canary-0')).toEqual(serviceEnvironment(model, canary, secrets));
    expect(env('numbering-migrate')).toEqual(migrationEnvironment(model, secrets));
    expect(container('numbering-migrate').command).toEqual(['node', 'dist/db/migrate.js']);
  });

  it('puts every container on the platform network under the host name the model gives it', () => {
    const networkName = inputs(ofType(run, 'docker:index/network:Network')[0]!).name;
    const aliases = new Set(containers().flatMap((c) => container(c.name).networksAdvanced.flatMap((n: Json) => (n.name === networkName ? n.aliases : []))));
    const hosts = [
      ...model.redis.nodes.map((n) => n.host),
      model.mariadb.host,
      ...model.postgres.members.map((m) => m.host),
      ...model.service.releases.map((r) => r.host),
      model.postgres.haproxy.host,
      model.postgres.pgbouncer.host,
      model.monitoring.prometheus.host,
      model.monitoring.alertmanager.host,
      model.redis.exporter.host,
      model.mariadb.exporter.host,
    ];
    for (const host of hosts) expect(aliases, host).toContain(host);
  });

  it('keeps every generated password secret: never in plain text in any input, always secret in outputs', async () => {
    expect(run.passwords).toHaveLength(15);
    expect(plaintextPasswordLeaks(run)).toEqual([]);
    // Files and variables holding one arrive marked secret (not merely absent).
    const redis0 = one(run, CONTAINER, 'redis-0');
    expect(isSecretAt(redis0, 'uploads')).toBe(true);
    expect(isSecretAt(one(run, CONTAINER, 'numbering-stable-0'), 'envs')).toBe(true);
    expect(isSecretAt(one(run, CONTAINER, 'alertmanager'), 'uploads')).toBe(true);
    expect(await pulumi.isSecret(run.program.credentials as pulumi.Output<unknown>)).toBe(true);
    expect(await pulumi.isSecret(run.program.grafanaAdminPassword as pulumi.Output<unknown>)).toBe(true);
    expect(await pulumi.isSecret(run.program.endpoints as pulumi.Output<unknown>)).toBe(false);
    const exported = JSON.stringify(await valueOf(run.program.endpoints as pulumi.Output<unknown>));
    for (const pw of run.passwords) expect(exported).not.toContain(pw);
  });

  it('takes the alert receivers from secret config into alertmanager.yml', () => {
    const am = upload('alertmanager', '/etc/alertmanager/alertmanager.yml');
    expect(am).toContain(ALERTING['numbering:alerting.slackWebhookUrl']);
    expect(am).toContain(ALERTING['numbering:alerting.pagerdutyRoutingKey']);
    expect(isSecretAt(one(run, CONTAINER, 'alertmanager'), 'uploads')).toBe(true);
  });

  it('prints a preview table with every resource once, under its parent', () => {
    const table = renderPreviewTable(run);
    expect(table).toContain(`+ ${run.resources.length} to create`);
    const count = (node: ReturnType<typeof resourceTree>): number => 1 + node.children.reduce((n, c) => n + count(c), 0);
    expect(count(resourceTree(run))).toBe(run.resources.length);
    expect(table).toMatch(/numbering:redis:Cluster\s+redis\s+create/);
    expect(table).toMatch(/│ {2}├─ docker:index:Container\s+redis-0\s+create/);
  });
});

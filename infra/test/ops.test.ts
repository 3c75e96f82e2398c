import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlatform, parsePlatformConfig, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
// The CLI whose environment source the CronJobs feed: its own parser, names and commands are the contract.
import { createContext, secretEnvName, type OpsContext, type OpsIo, type SecretPath } from '../../packages/ops/src/context.js';
import { main } from '../../packages/ops/src/main.js';
import { OPS_PLATFORM_CONFIG_KEY, OPS_UID, opsJobs, opsSecretEnvName, YEARLY_RESET_SCHEDULE, type CredentialPath } from '../src/kubernetes/ops.js';
import { runOffline, type OfflineRun } from '../src/offline/harness.js';
import { PASSWORD_FIELDS } from '../src/secrets.js';
import { REPO_ROOT } from '../src/shared/service.js';
import { expectedWorld, inputs, ofType, one, plaintextPasswordLeaks, type Json } from './support/graph.js';

const CRON_JOB = 'kubernetes:batch/v1:CronJob';
const CONFIG_MAP = 'kubernetes:core/v1:ConfigMap';
const SECRET = 'kubernetes:core/v1:Secret';
const NETWORK_POLICY = 'kubernetes:networking.k8s.io/v1:NetworkPolicy';

/** Every scheduled command line, its schedule and the one credential it connects with (Pulumi.prod.yaml keeps the ops defaults). */
const EXPECTED: Record<string, { args: string[]; schedule: string; credential: CredentialPath; backups?: string }> = {
  'ops-mariadb-backup': { args: ['backup', 'mariadb', '--keep-days', '7', '--yes'], schedule: '17 2 * * *', credential: 'mariadb.backup', backups: 'mariadb-backups' },
  'ops-redis-backup': { args: ['backup', 'redis', '--method', 'remote', '--keep-days', '7', '--yes'], schedule: '32 2 * * *', credential: 'redis.admin', backups: 'redis-backups' },
  'ops-integrity': { args: ['integrity', '--yes'], schedule: '7 4 * * *', credential: 'mariadb.backup' },
  'ops-cleanup-reservations': { args: ['cleanup-reservations', '--yes'], schedule: '*/15 * * * *', credential: 'mariadb.app' },
  'ops-archive-audit': { args: ['archive-audit', '--older-than', '2y', '--yes'], schedule: '23 3 1 * *', credential: 'mariadb.migrator' },
  'ops-yearly-reset': { args: ['yearly-reset', '--yes'], schedule: '5 0 1 1 *', credential: 'mariadb.app' },
};

let run: OfflineRun;
let model: PlatformModel;
let secrets: PlatformSecrets;
let backupDir: string;

const cronJob = (name: string): Json => inputs(one(run, CRON_JOB, name));
const podOf = (cron: Json): Json => cron.spec.jobTemplate.spec.template.spec;
const containerOf = (cron: Json): Json => podOf(cron).containers[0];
const envOf = (cron: Json, name: string): Json => containerOf(cron).env.find((e: Json) => e.name === name);
const platformConfigJson = (r: OfflineRun): string => inputs(one(r, CONFIG_MAP, 'ops-platform-config')).data[OPS_PLATFORM_CONFIG_KEY];

beforeAll(async () => {
  run = await runOffline({ stack: 'prod', config: { 'numbering:alerting.slackWebhookUrl': 'https://hooks.slack.com/services/T000/B000/never-in-a-configmap' }, secretKeys: ['numbering:alerting.slackWebhookUrl'] });
  ({ model, secrets } = await expectedWorld(run));
  backupDir = mkdtempSync(join(tmpdir(), 'infra-ops-test-'));
}, 120_000);

afterAll(() => {
  if (backupDir) rmSync(backupDir, { recursive: true, force: true });
});

describe('ops CronJobs (prod stack under SDK mocks)', () => {
  it('schedules each ops command with its arguments, in the configured time zone, one run at a time', () => {
    const names = ofType(run, CRON_JOB).map((r) => r.name).filter((n) => n.startsWith('ops-'));
    expect(names.sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [name, expected] of Object.entries(EXPECTED)) {
      const cron = cronJob(name);
      expect(containerOf(cron).args, name).toEqual(expected.args);
      expect(containerOf(cron).command, `${name}: the image's entrypoint is the CLI`).toBeUndefined();
      expect(cron.spec.schedule, name).toBe(expected.schedule);
      expect(cron.spec.timeZone, name).toBe('Etc/UTC');
      expect(cron.spec.concurrencyPolicy, name).toBe('Forbid');
      expect(cron.spec.startingDeadlineSeconds, name).toBeGreaterThan(0);
      const job = cron.spec.jobTemplate.spec;
      expect(job.backoffLimit, name).toBeGreaterThanOrEqual(0);
      expect(job.activeDeadlineSeconds, name).toBeGreaterThan(0);
      expect(podOf(cron).restartPolicy, name).toBe('Never');
    }
    // A cleanup run never outlives the 15 minutes to the next one.
    expect(cronJob('ops-cleanup-reservations').spec.jobTemplate.spec.activeDeadlineSeconds).toBeLessThan(15 * 60);
    expect(YEARLY_RESET_SCHEDULE).toBe('5 0 1 1 *');
  });

  it('runs the pinned ops image as its non-root user, read-only, with /tmp, resources and no API token', () => {
    for (const name of Object.keys(EXPECTED)) {
      const cron = cronJob(name);
      const pod = podOf(cron);
      const c = containerOf(cron);
      expect(c.image, name).toBe('ghcr.io/numbering/numbering-ops:0.1.0');
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: OPS_UID, fsGroup: OPS_UID, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.automountServiceAccountToken, name).toBe(false);
      expect(c.securityContext, name).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.volumeMounts, name).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(pod.volumes, name).toContainEqual(expect.objectContaining({ name: 'tmp', emptyDir: expect.anything() }));
      expect(c.resources.requests.memory, name).toBeDefined();
      expect(c.resources.limits.memory, name).toBeDefined();
    }
  });

  it('feeds the CLI its environment source: OPS_SOURCE, the stack config from a ConfigMap, the backup dir', () => {
    for (const [name, expected] of Object.entries(EXPECTED)) {
      const cron = cronJob(name);
      expect(envOf(cron, 'OPS_SOURCE'), name).toEqual({ name: 'OPS_SOURCE', value: 'environment' });
      expect(envOf(cron, 'OPS_PLATFORM_CONFIG'), name).toEqual({ name: 'OPS_PLATFORM_CONFIG', valueFrom: { configMapKeyRef: { name: 'ops-platform-config', key: OPS_PLATFORM_CONFIG_KEY } } });
      const dir = envOf(cron, 'OPS_BACKUP_DIR').value;
      if (expected.backups) {
        expect(dir, name).toBe('/backup');
        expect(containerOf(cron).volumeMounts, name).toContainEqual({ name: 'backups', mountPath: '/backup' });
        expect(podOf(cron).volumes, name).toContainEqual({ name: 'backups', persistentVolumeClaim: { claimName: expected.backups } });
      } else {
        expect(dir, `${name} writes no backup; its scratch volume`).toBe('/tmp');
      }
    }
    // Both backup volumes belong to the component whose data they hold (the MariaDB one keeps its URN from before the ops jobs).
    expect(one(run, 'kubernetes:core/v1:PersistentVolumeClaim', 'mariadb-backups').parent).toEqual({ type: 'numbering:mariadb:MariaDb', name: 'mariadb' });
    expect(one(run, 'kubernetes:core/v1:PersistentVolumeClaim', 'redis-backups').parent).toEqual({ type: 'numbering:redis:Cluster', name: 'redis' });
    expect(inputs(one(run, 'kubernetes:core/v1:PersistentVolumeClaim', 'redis-backups')).spec.resources.requests.storage).toBe('24Gi');
  });

  it('hands the CLI exactly the stack config the program used, with no credential in it', () => {
    const json = platformConfigJson(run);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    expect(parsePlatformConfig(parsed)).toEqual(model.config);
    expect(buildPlatform(parsePlatformConfig(parsed))).toEqual(model);
    // The schema has no credential; neither a generated password nor an alert receiver secret reaches the ConfigMap.
    for (const pw of run.passwords) expect(json.includes(pw)).toBe(false);
    expect(json).not.toContain('hooks.slack.com');
    expect(json).not.toMatch(/password|webhook|token|routingKey/i);
  });

  it('gives each job only the credential its command connects with, as a secretKeyRef named as the CLI reads it', () => {
    const secretData = (name: string): Record<string, string> => inputs(one(run, SECRET, name)).stringData;
    for (const [name, expected] of Object.entries(EXPECTED)) {
      const refs = containerOf(cronJob(name)).env.filter((e: Json) => e.name.startsWith('OPS_SECRET_'));
      expect(refs.map((e: Json) => e.name), name).toEqual([secretEnvName(expected.credential as SecretPath)]);
      const ref = refs[0].valueFrom.secretKeyRef;
      // The reference resolves to the generated credential itself.
      const [group, field] = expected.credential.split('.') as [keyof PlatformSecrets, string];
      expect(secretData(ref.name)[ref.key], name).toBe((secrets[group] as Record<string, string>)[field]);
      for (const e of containerOf(cronJob(name)).env) expect(e.value === undefined || !run.passwords.some((pw) => String(e.value).includes(pw)), `${name} ${e.name}`).toBe(true);
    }
    // infra's copy of the CLI's variable naming agrees for every credential there is.
    for (const [group, fields] of Object.entries(PASSWORD_FIELDS)) {
      for (const field of fields) expect(opsSecretEnvName(`${group}.${field}` as CredentialPath)).toBe(secretEnvName(`${group}.${field}` as SecretPath));
    }
  });

  it('puts no generated password and no alert secret in any ops object, secret-marked or not', () => {
    expect(plaintextPasswordLeaks(run)).toEqual([]);
    const opsObjects = run.resources.filter((r) => r.parent?.type === 'numbering:ops:Jobs');
    expect(opsObjects.map((r) => r.type).sort()).toEqual([...Array(6).fill(CRON_JOB), CONFIG_MAP]);
    for (const r of opsObjects) {
      const text = JSON.stringify(r.raw);
      for (const pw of run.passwords) expect(text.includes(pw), `${r.type} ${r.name}`).toBe(false);
      expect(text, r.name).not.toContain('hooks.slack.com');
    }
  });

  it('admits each job through the NetworkPolicies to exactly the services it uses', () => {
    const admitted = (policy: string, job: string) => {
      const labels = cronJob(job).spec.jobTemplate.spec.template.metadata.labels as Record<string, string>;
      const rules = inputs(one(run, NETWORK_POLICY, policy)).spec.ingress as Json[];
      return rules.some((rule) => rule.from.some((peer: Json) => peer.podSelector && Object.entries(peer.podSelector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v)));
    };
    for (const name of Object.keys(EXPECTED)) {
      const redis = name === 'ops-redis-backup';
      expect(admitted('allow-mariadb-clients', name), `${name} -> MariaDB`).toBe(!redis);
      expect(admitted('allow-redis-clients', name), `${name} -> Redis`).toBe(redis);
    }
    // The CronJob the ops backup replaced is gone from the policies too.
    expect(JSON.stringify(inputs(one(run, NETWORK_POLICY, 'allow-mariadb-clients')))).not.toContain('"mariadb-backup"');
  });

  it('follows the ops.* keys: time zone, retention, archive age and schedules', async () => {
    const changed = await runOffline({
      stack: 'prod',
      config: {
        'numbering:ops.timeZone': 'Europe/Berlin',
        'numbering:ops.backupKeepDays': '14',
        'numbering:ops.archiveAuditOlderThan': '3y',
        'numbering:ops.mariadbBackupSchedule': '0 1 * * *',
        'numbering:ops.image': 'registry.example/ops@sha256:' + 'a'.repeat(64),
      },
    });
    const cron = (name: string) => inputs(one(changed, CRON_JOB, name));
    for (const r of ofType(changed, CRON_JOB).filter((c) => c.name.startsWith('ops-'))) expect(inputs(r).spec.timeZone).toBe('Europe/Berlin');
    expect(cron('ops-mariadb-backup').spec.schedule).toBe('0 1 * * *');
    expect(containerOf(cron('ops-mariadb-backup')).args).toEqual(['backup', 'mariadb', '--keep-days', '14', '--yes']);
    expect(containerOf(cron('ops-redis-backup')).args).toContain('14');
    expect(containerOf(cron('ops-archive-audit')).args).toEqual(['archive-audit', '--older-than', '3y', '--yes']);
    expect(containerOf(cron('ops-integrity')).image).toBe(`registry.example/ops@sha256:${'a'.repeat(64)}`);
    // The yearly reset is not a key: January 1st, just after midnight, wherever the jobs are scheduled.
    expect(cron('ops-yearly-reset').spec.schedule).toBe('5 0 1 1 *');
    expect(JSON.parse(platformConfigJson(changed)).ops.timeZone).toBe('Europe/Berlin');
  }, 120_000);
});

describe('the scheduled command lines, run through the ops CLI itself', () => {
  /**
   * Each job's arguments and environment, as the pod gets them, go through the CLI's own `main` with
   * the environment source. The context is the real one built from OPS_PLATFORM_CONFIG, but the secret
   * variables are left unset: every command asks for its credential before it connects, so it stops
   * there and names the variable. Hosts are pointed at a closed local port as well, so nothing can
   * leave this machine even if a command connected first.
   */
  const runJob = async (name: string): Promise<{ code: number; err: string[] }> => {
    const c = containerOf(cronJob(name));
    const env: NodeJS.ProcessEnv = { OPS_SOURCE: 'environment', OPS_PLATFORM_CONFIG: platformConfigJson(run), OPS_BACKUP_DIR: join(backupDir, name) };
    const err: string[] = [];
    const io: OpsIo = { out: () => {}, err: (line) => void err.push(line), confirm: async () => false, progress: () => {} };
    const context = (opts: { devstack?: string; backupDir?: string; assumeYes: boolean; io: OpsIo }): OpsContext => {
      const ctx = createContext({ ...opts, env });
      const local = structuredClone(ctx.model);
      local.mariadb.host = '127.0.0.1';
      local.mariadb.port = 9;
      for (const node of local.redis.nodes) Object.assign(node, { host: '127.0.0.1', port: 9 });
      expect(ctx.model.mariadb.host).toBe(model.mariadb.host);
      return { ...ctx, model: local };
    };
    const code = await main(c.args, io, { context });
    return { code, err };
  };

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`${name}: the CLI knows the command and its options, and asks for exactly the credential the job provides`, async () => {
      const { code, err } = await runJob(name);
      expect(code, err.join('\n')).toBe(1);
      expect(err.join('\n')).toContain(`${secretEnvName(expected.credential as SecretPath)} is not set`);
      expect(opsJobs(model.config).find((j) => j.name === name)?.credentials).toEqual([expected.credential]);
    });
  }
});

describe('the ops image', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'packages/ops/Dockerfile'), 'utf8');
  const dockerignore = readFileSync(join(REPO_ROOT, 'packages/ops/Dockerfile.dockerignore'), 'utf8');

  it('builds from a pinned Node 20 base, installs the lockfile\'s production dependencies and the Debian clients', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(base).toMatch(/^node:20\.\d+-bookworm-slim$/);
    expect(dockerfile).toContain('pnpm install --prod --frozen-lockfile --filter "@numbering/ops..."');
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends mariadb-client redis-tools gzip/);
    // tsx must come with the CLI's own production dependencies, since root devDependencies are not installed.
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/ops/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.tsx).toBeDefined();
    const lock = parse(readFileSync(join(REPO_ROOT, 'pnpm-lock.yaml'), 'utf8')) as { importers: Record<string, { dependencies?: Record<string, unknown> }> };
    expect(lock.importers['packages/ops']?.dependencies?.tsx).toBeDefined();
  });

  it('runs the CLI as the unprivileged node user the pods expect', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(OPS_UID).toBe(1000);
    expect(dockerfile).toMatch(/^WORKDIR \/app\/packages\/ops$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "--import", "tsx", "src/cli.ts"]');
  });

  it('sends the build only what it copies (its own .dockerignore, not the service\'s)', () => {
    const rules = dockerignore.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).toBe('*');
    for (const copied of ['packages/ops/src', 'packages/blueprint/src', 'packages/devstack/src', 'pnpm-lock.yaml']) expect(rules, copied).toContain(`!${copied}`);
    for (const [, source] of dockerfile.matchAll(/^COPY --chown=root:root (.+) \S+$/gm)) {
      for (const path of source!.split(' ')) expect(rules, `COPY ${path}`).toContain(`!${path}`);
    }
    expect(rules).toContain('**/node_modules');
  });
});

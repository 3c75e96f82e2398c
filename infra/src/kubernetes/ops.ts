import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { PlatformConfig, PlatformSecrets } from '@numbering/blueprint';
import { BACKUP_DIR, configMap, containerSecurity, image, metadata, podLabels, podSecurity, resources, secretEnv, selectorLabels, tmpVolume, type KubernetesComponentArgs } from './common.js';

/**
 * The ops CLI (packages/ops) on a schedule: one CronJob per routine task, each running the ops image
 * with the CLI's environment source. Every job gets the stack config (OPS_PLATFORM_CONFIG, from a
 * ConfigMap: the same model the Pulumi program built, so host names and ports agree) and only the
 * credentials its command connects with, as secretKeyRefs to the Secrets the components already
 * own; the Job objects hold no credential.
 */

type PasswordGroup = Exclude<keyof PlatformSecrets, 'alerting'>;
/** A generated credential by its dotted path, as the ops CLI names it: `mariadb.backup`, `redis.admin`. */
export type CredentialPath = { [G in PasswordGroup]: `${G}.${keyof PlatformSecrets[G] & string}` }[PasswordGroup];

/**
 * The variable the ops CLI reads a credential from (`secretEnvName` in packages/ops/src/context.ts;
 * infra/test/ops.test.ts checks the two agree): `mariadb.backup` -> OPS_SECRET_MARIADB_BACKUP.
 */
export const opsSecretEnvName = (path: CredentialPath): string => `OPS_SECRET_${path.replace('.', '_').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;

/** The ops image's user: `node` of the official Node.js image (packages/ops/Dockerfile). */
export const OPS_UID = 1000;
/** The ConfigMap key holding the stack config as JSON. */
export const OPS_PLATFORM_CONFIG_KEY = 'platform-config.json';
/** Where jobs without a backup volume point OPS_BACKUP_DIR (the CLI requires one): their scratch volume. */
const SCRATCH_DIR = '/tmp';
/**
 * January 1st, 00:05 in ops.timeZone. `ops yearly-reset` without `--year` prepares the year about to
 * start when run in December (UTC) and checks the current one otherwise, so whichever side of UTC the
 * time zone lies on, this run lands on the new year.
 */
export const YEARLY_RESET_SCHEDULE = '5 0 1 1 *';

/** What the platform's services a job connects to; the namespace's NetworkPolicies open exactly these. */
export type OpsPeer = 'mariadb' | 'redis';

export interface OpsJob {
  /** The CronJob's name and its pods' `app.kubernetes.io/name`, by which NetworkPolicies admit them. */
  name: string;
  /** Arguments of the ops CLI (the image's entrypoint is the CLI). */
  args: string[];
  schedule: string;
  /** The credentials the command connects with, each becoming an OPS_SECRET_* secretKeyRef. */
  credentials: CredentialPath[];
  reaches: OpsPeer[];
  /** The backup volume mounted as OPS_BACKUP_DIR: the PVC of the component whose data it holds. */
  backups?: OpsPeer;
  /** A run that cannot start within this many seconds of its time is skipped (and counted as missed). */
  startingDeadlineSeconds: number;
  /** A run is killed after this long. */
  activeDeadlineSeconds: number;
  /** Retries of a failed run (each a new pod; failed pods stay for their logs). */
  backoffLimit: number;
  memoryLimit: string;
}

const HOUR = 3600;

/**
 * The scheduled ops commands, from the stack config. Every one gets `--yes`: a CronJob has no terminal
 * to confirm on, and the commands that would ask (those that move or replace data) are exactly the
 * ones scheduled here on purpose. Credentials are the account each command connects with, its least
 * privileged one (packages/ops/src/commands): MariaDB `backup` for the dump and the read-only integrity
 * check, `app` (the service's own SELECT/INSERT/UPDATE) to expire reservations and pre-create counters,
 * `migrator` to move audit rows (DELETE), Redis `admin` for BGSAVE/`redis-cli --rdb`.
 * infra/test/ops.test.ts runs each scheduled command line through the CLI to check the account.
 */
export function opsJobs(config: PlatformConfig): OpsJob[] {
  const o = config.ops;
  const keepDays = String(o.backupKeepDays);
  const jobs: OpsJob[] = [
    {
      name: 'ops-mariadb-backup',
      args: ['backup', 'mariadb', '--keep-days', keepDays],
      schedule: o.mariadbBackupSchedule,
      credentials: ['mariadb.backup'],
      reaches: ['mariadb'],
      backups: 'mariadb',
      startingDeadlineSeconds: HOUR,
      activeDeadlineSeconds: HOUR,
      backoffLimit: 2,
      memoryLimit: '512Mi',
    },
    {
      name: 'ops-redis-backup',
      // `remote`: the masters' data directories are other pods' volumes; the RDB comes over the network.
      args: ['backup', 'redis', '--method', 'remote', '--keep-days', keepDays],
      schedule: o.redisBackupSchedule,
      credentials: ['redis.admin'],
      reaches: ['redis'],
      backups: 'redis',
      startingDeadlineSeconds: HOUR,
      activeDeadlineSeconds: HOUR,
      backoffLimit: 2,
      memoryLimit: '256Mi',
    },
    {
      name: 'ops-integrity',
      args: ['integrity'],
      schedule: o.integritySchedule,
      credentials: ['mariadb.backup'],
      reaches: ['mariadb'],
      startingDeadlineSeconds: HOUR,
      activeDeadlineSeconds: HOUR,
      // A failed check is a finding, not a flake: one run, its pod kept with the report.
      backoffLimit: 0,
      memoryLimit: '512Mi',
    },
    {
      name: 'ops-cleanup-reservations',
      args: ['cleanup-reservations'],
      schedule: o.cleanupReservationsSchedule,
      credentials: ['mariadb.app'],
      reaches: ['mariadb'],
      // The next run is minutes away: no catching up, no retries piling onto it.
      startingDeadlineSeconds: 300,
      activeDeadlineSeconds: 600,
      backoffLimit: 0,
      memoryLimit: '256Mi',
    },
    {
      name: 'ops-archive-audit',
      args: ['archive-audit', '--older-than', o.archiveAuditOlderThan],
      schedule: o.archiveAuditSchedule,
      credentials: ['mariadb.migrator'],
      reaches: ['mariadb'],
      startingDeadlineSeconds: 6 * HOUR,
      // Batches commit one by one, so a run cut short resumes where it stopped next time.
      activeDeadlineSeconds: 4 * HOUR,
      backoffLimit: 2,
      memoryLimit: '256Mi',
    },
    {
      name: 'ops-yearly-reset',
      args: ['yearly-reset'],
      schedule: YEARLY_RESET_SCHEDULE,
      credentials: ['mariadb.app'],
      reaches: ['mariadb'],
      // Once a year: a controller hiccup at midnight must not skip it; the command is idempotent.
      startingDeadlineSeconds: 6 * HOUR,
      activeDeadlineSeconds: HOUR,
      backoffLimit: 4,
      memoryLimit: '256Mi',
    },
  ];
  return jobs.map((j) => ({ ...j, args: [...j.args, '--yes'] }));
}

/** Names of the ops jobs that connect to `peer`: the NetworkPolicy of that service admits their pods. */
export const opsClientsOf = (config: PlatformConfig, peer: OpsPeer): string[] => opsJobs(config).filter((j) => j.reaches.includes(peer)).map((j) => j.name);

/**
 * The stack config handed to the CLI: the parsed, complete config (every default filled in), so the ops
 * model is the one this program built even if a later image changes a default. It holds no credential:
 * the schema has none (alert receiver secrets are read apart, with getSecret).
 */
export const opsPlatformConfigJson = (config: PlatformConfig): string => `${JSON.stringify(config, null, 2)}\n`;

/** Where a credential is kept: an existing Secret of the component that owns it, and its key. */
export interface SecretKeyRef {
  secret: pulumi.Input<string>;
  key: string;
}

export interface KubernetesOpsJobsArgs extends KubernetesComponentArgs {
  /** Every credential a job may need, by path, as a key of an existing Secret. */
  credentials: Partial<Record<CredentialPath, SecretKeyRef>>;
  /** Claim names of the backup volumes, by the component whose data they hold. */
  backupVolumes: Record<OpsPeer, pulumi.Input<string>>;
}

/** The ops CronJobs and the ConfigMap with the stack config they share. */
export class KubernetesOpsJobs extends pulumi.ComponentResource {
  readonly platformConfig: k8s.core.v1.ConfigMap;
  readonly cronJobs: Record<string, k8s.batch.v1.CronJob> = {};

  constructor(name: string, args: KubernetesOpsJobsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:ops:Jobs', name, {}, opts);
    const { model, namespace } = args;
    const config = model.config;
    const opsImage = image('ops.image', config.ops.image);
    this.platformConfig = configMap('ops-platform-config', 'ops', namespace, { [OPS_PLATFORM_CONFIG_KEY]: opsPlatformConfigJson(config) }, this);

    for (const job of opsJobs(config)) {
      const credentialEnv = job.credentials.map((path) => {
        const ref = args.credentials[path];
        if (!ref) throw new Error(`${job.name} needs the ${path} credential, but no Secret was given for it (KubernetesOpsJobsArgs.credentials)`);
        return secretEnv(opsSecretEnvName(path), ref.secret, ref.key);
      });
      const backupDir = job.backups ? BACKUP_DIR : SCRATCH_DIR;
      this.cronJobs[job.name] = new k8s.batch.v1.CronJob(
        job.name,
        {
          metadata: metadata(job.name, 'ops', namespace),
          spec: {
            schedule: job.schedule,
            timeZone: config.ops.timeZone,
            concurrencyPolicy: 'Forbid',
            startingDeadlineSeconds: job.startingDeadlineSeconds,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 3,
            jobTemplate: {
              spec: {
                backoffLimit: job.backoffLimit,
                activeDeadlineSeconds: job.activeDeadlineSeconds,
                template: {
                  metadata: { labels: podLabels(job.name, 'ops', selectorLabels(job.name)) },
                  spec: {
                    restartPolicy: 'Never',
                    securityContext: podSecurity(OPS_UID),
                    enableServiceLinks: false,
                    // The CLI talks to MariaDB and Redis only, never to the Kubernetes API.
                    automountServiceAccountToken: false,
                    containers: [
                      {
                        name: 'ops',
                        image: opsImage,
                        imagePullPolicy: 'IfNotPresent',
                        args: job.args,
                        env: [
                          { name: 'OPS_SOURCE', value: 'environment' },
                          { name: 'OPS_PLATFORM_CONFIG', valueFrom: { configMapKeyRef: { name: this.platformConfig.metadata.name, key: OPS_PLATFORM_CONFIG_KEY } } },
                          { name: 'OPS_BACKUP_DIR', value: backupDir },
                          ...credentialEnv,
                        ],
                        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...(job.backups ? [{ name: 'backups', mountPath: BACKUP_DIR }] : [])],
                        securityContext: containerSecurity(),
                        resources: resources('50m', '128Mi', job.memoryLimit),
                      },
                    ],
                    // The root filesystem is read-only; tsx caches transpiled sources under /tmp.
                    volumes: [tmpVolume('tmp', '256Mi'), ...(job.backups ? [{ name: 'backups', persistentVolumeClaim: { claimName: args.backupVolumes[job.backups] } }] : [])],
                  },
                },
              },
            },
          },
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}

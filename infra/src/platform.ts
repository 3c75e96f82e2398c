import * as pulumi from '@pulumi/pulumi';
import { buildPlatform, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import type { StackConfig } from './config.js';
import { Credentials } from './secrets.js';
import { DockerCanary } from './docker/canary.js';
import { DockerMariaDb } from './docker/mariadb.js';
import { DockerMonitoring } from './docker/monitoring.js';
import { PlatformNetwork } from './docker/network.js';
import { DockerNumberingService } from './docker/numbering-service.js';
import { DockerPostgresHa } from './docker/postgres-ha.js';
import { DockerRedisCluster } from './docker/redis-cluster.js';
import { KubernetesCanary } from './kubernetes/canary.js';
import { KubernetesMariaDb } from './kubernetes/mariadb.js';
import { KubernetesMonitoring } from './kubernetes/monitoring.js';
import { KubernetesNamespace } from './kubernetes/namespace.js';
import { KubernetesNumberingService } from './kubernetes/numbering-service.js';
import { KubernetesOpsJobs } from './kubernetes/ops.js';
import { KubernetesPostgresHa } from './kubernetes/postgres-ha.js';
import { KubernetesRedisCluster } from './kubernetes/redis-cluster.js';

/** The nightly pg_dump (UTC), apart from the ops backups (ops.*Schedule) so they do not compete for I/O. */
export const BACKUP_SCHEDULE = { postgres: '47 2 * * *' } as const;

export interface PlatformEndpoints {
  /** Where requests go: the canary split. */
  numbering: string;
  grafana: string;
  prometheus: string;
  alertmanager: string;
  /** PgBouncer (PostgreSQL HA). */
  postgres: string;
  mariadb: string;
  redis: string[];
}

/** What `pulumi stack output` shows. Credentials are secret outputs only. */
export interface PlatformOutputs {
  target: PlatformModel['target'];
  namespace: string;
  endpoints: pulumi.Output<PlatformEndpoints>;
  canary: { weight: number; stableImage: string; canaryImage: string; nginxConfigChecksum: string };
  credentials: pulumi.Output<PlatformSecrets>;
  grafanaAdminPassword: pulumi.Output<string>;
}

/** The model for the stack's target, then one ComponentResource per component on that target. */
export function definePlatform(stack: StackConfig): PlatformOutputs {
  const model = buildPlatform(stack.config);
  const credentials = new Credentials('credentials', { alerting: stack.alerting });
  const secrets = credentials.secrets;
  const [stable, canary] = model.service.releases;

  const common = (endpoints: pulumi.Output<PlatformEndpoints>, nginxConfigChecksum: string): PlatformOutputs => ({
    target: model.target,
    namespace: model.namespace,
    endpoints,
    canary: { weight: model.canary.weight, stableImage: stable.image, canaryImage: canary.image, nginxConfigChecksum },
    credentials: secrets,
    grafanaAdminPassword: credentials.grafanaAdminPassword,
  });

  if (model.target === 'docker') {
    const network = new PlatformNetwork('network', { name: model.namespace });
    const docker = { network: network.name, prefix: model.namespace };
    const redis = new DockerRedisCluster('redis', { model, secrets, docker });
    const mariadb = new DockerMariaDb('mariadb', { model, secrets, docker });
    const postgres = new DockerPostgresHa('postgres', { model, secrets, docker });
    const service = new DockerNumberingService('numbering', { model, secrets, docker, dependsOn: [mariadb.server, redis.clusterInit] });
    const nginx = new DockerCanary('canary', { model, docker, upstreams: [...service.containers.stable, ...service.containers.canary], publish: true });
    const monitoring = new DockerMonitoring('monitoring', { model, secrets, docker, grafanaAdminPassword: credentials.grafanaAdminPassword, publish: true });
    const endpoints = pulumi
      .all([nginx.endpoint, monitoring.endpoints, postgres.endpoint, mariadb.endpoint, redis.endpoints])
      .apply(([numbering, mon, pg, maria, redisNodes]) => ({ numbering, ...mon, postgres: pg, mariadb: maria, redis: redisNodes }));
    return common(endpoints, nginx.configChecksum);
  }

  if (model.target === 'kubernetes') {
    const ns = new KubernetesNamespace('namespace', { model });
    const namespace = ns.name;
    const redis = new KubernetesRedisCluster('redis', { model, secrets, namespace });
    const mariadb = new KubernetesMariaDb('mariadb', { model, secrets, namespace });
    const postgres = new KubernetesPostgresHa('postgres', { model, secrets, namespace, backupSchedule: BACKUP_SCHEDULE.postgres });
    const service = new KubernetesNumberingService('numbering', { model, secrets, namespace, dependsOn: [mariadb.statefulSet, redis.clusterInit] });
    const nginx = new KubernetesCanary('canary', {
      model,
      namespace,
      replicas: model.service.replicas,
      upstreams: [service.deployments.stable, service.deployments.canary, service.services.stable, service.services.canary],
    });
    const monitoring = new KubernetesMonitoring('monitoring', { model, secrets, namespace, grafanaAdminPassword: credentials.grafanaAdminPassword });
    new KubernetesOpsJobs('ops', {
      model,
      namespace,
      credentials: {
        'mariadb.backup': { secret: mariadb.credentials.metadata.name, key: 'backup' },
        'mariadb.migrator': { secret: mariadb.credentials.metadata.name, key: 'migrator' },
        'mariadb.app': { secret: mariadb.credentials.metadata.name, key: 'app' },
        'redis.admin': { secret: redis.credentials.metadata.name, key: 'admin' },
      },
      backupVolumes: { mariadb: mariadb.backupVolume.metadata.name, redis: redis.backupVolume.metadata.name },
    });
    const endpoints = pulumi
      .all([nginx.endpoint, monitoring.endpoints, postgres.endpoint, mariadb.endpoint, redis.endpoints])
      .apply(([numbering, mon, pg, maria, redisNodes]) => ({ numbering, ...mon, postgres: pg, mariadb: maria, redis: redisNodes }));
    return common(endpoints, nginx.configChecksum);
  }

  throw new pulumi.RunError(`numbering:target: ${model.target} is not a Pulumi target (docker or kubernetes)`);
}

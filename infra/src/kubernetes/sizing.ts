import type { PlatformConfig } from '@numbering/blueprint';

/**
 * Requests, limits and volume sizes derived from the tuning keys, so `Pulumi.prod.yaml` sizes a
 * component in one place (e.g. `redis.maxmemoryMb`) and the pod gets memory to match. The stack
 * config has no keys for volume sizes; they are fixed here and documented in infra/README.md.
 */

/** MiB of a MariaDB size (`256M`, `2G`, bytes) or a PostgreSQL one (`128MB`, `1GB`, `512kB`). */
export function mebibytes(key: string, size: string): number {
  const m = /^([0-9]+)(k|kB|K|M|MB|G|GB)?$/.exec(size);
  if (!m) throw new Error(`${key}: cannot read size ${JSON.stringify(size)}`);
  const n = Number(m[1]);
  switch (m[2]) {
    case undefined:
      return n / (1024 * 1024);
    case 'k':
    case 'K':
    case 'kB':
      return n / 1024;
    case 'M':
    case 'MB':
      return n;
    default:
      return n * 1024;
  }
}

const mi = (n: number) => `${Math.ceil(n)}Mi`;

export interface PodSize {
  cpuRequest: string;
  memoryRequest: string;
  memoryLimit: string;
}

/** A Redis node holds maxmemory of data; a BGSAVE/AOF rewrite fork can copy-on-write up to as much again. */
export function redisSize(config: PlatformConfig): PodSize & { storage: string } {
  const max = config.redis.maxmemoryMb;
  return { cpuRequest: '100m', memoryRequest: mi(max + 64), memoryLimit: mi(2 * max + 128), storage: `${Math.max(1, Math.ceil((4 * max) / 1024))}Gi` };
}

/** The buffer pool plus per-connection buffers and the server's own overhead. */
export function mariaDbSize(config: PlatformConfig): PodSize & { storage: string; backupStorage: string } {
  const pool = mebibytes('mariadb.innodbBufferPoolSize', config.mariadb.innodbBufferPoolSize);
  const perConnection = 2 * config.mariadb.maxConnections;
  return { cpuRequest: '250m', memoryRequest: mi(pool + 256), memoryLimit: mi(pool * 1.25 + perConnection + 512), storage: '20Gi', backupStorage: '20Gi' };
}

/** shared_buffers plus work memory of max_connections backends. */
export function postgresSize(config: PlatformConfig): PodSize & { storage: string; backupStorage: string } {
  const shared = mebibytes('postgres.sharedBuffers', config.postgres.sharedBuffers);
  return { cpuRequest: '250m', memoryRequest: mi(shared * 2 + 256), memoryLimit: mi(shared * 2 + 4 * config.postgres.maxConnections + 512), storage: '20Gi', backupStorage: '20Gi' };
}

/**
 * Redis backups (`ops backup redis`, one RDB per master): each RDB holds at most a master's maxmemory,
 * and ops.backupKeepDays of them are kept plus the one being written.
 */
export function redisBackupStorage(config: PlatformConfig): string {
  const mib = config.redis.masters * config.redis.maxmemoryMb * (config.ops.backupKeepDays + 1);
  return `${Math.max(1, Math.ceil(mib / 1024))}Gi`;
}

/**
 * The pgBackRest repository: repo1-retention-full (2) full backups of the data volume, the
 * differentials between them and the WAL they need; compressed, but sized as if not.
 */
export function pgbackrestRepoStorage(config: PlatformConfig): string {
  const data = Number(postgresSize(config).storage.replace(/Gi$/, ''));
  return `${3 * data}Gi`;
}

export const MONITORING_STORAGE = { prometheus: '20Gi', alertmanager: '1Gi' } as const;

import type { PlatformModel, RedisNode } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** redis.conf of one cluster node. */
export function renderRedisConf(_model: PlatformModel, _node: RedisNode): string {
  throw new Error('not implemented yet: renderRedisConf');
}

/** users.acl shared by every node: default off, admin, app (no dangerous commands), repl, exporter. */
export function renderRedisAcl(_model: PlatformModel, _secrets: PlatformSecrets): string {
  throw new Error('not implemented yet: renderRedisAcl');
}

/** Arguments of `redis-cli` that create the cluster (as the admin user). */
export function redisClusterCreateArgs(_model: PlatformModel, _secrets: PlatformSecrets): string[] {
  throw new Error('not implemented yet: redisClusterCreateArgs');
}

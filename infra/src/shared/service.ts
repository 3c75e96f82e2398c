import { fileURLToPath } from 'node:url';
import type { PlatformModel, ServiceRelease } from '@numbering/blueprint';
import { pinnedImage } from './images.js';

/** The repository root: the service image's build context (its Dockerfile copies the workspace packages it needs). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
export const SERVICE_DOCKERFILE = 'services/numbering/Dockerfile';

/** The service's health endpoints: liveness must not depend on MariaDB/Redis (a DB outage must not restart every pod), readiness does. */
export const SERVICE_HEALTH = { live: '/health', ready: '/health/ready', metrics: '/metrics' } as const;

/** The one-shot that applies the numbered SQL migrations, as the `migrator` user. */
export const MIGRATE_COMMAND = ['node', 'dist/db/migrate.js'];

/**
 * Health check for an image whose only certain tool is node itself (the base image decides whether
 * curl or wget exist); Node 20 has fetch built in.
 */
export function nodeHttpCheck(port: number, path: string): string[] {
  const url = `http://127.0.0.1:${port}${path}`;
  return ['node', '-e', `fetch(${JSON.stringify(url)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`];
}

/** Every release's image, checked to be pinned (`service.image` + `canary.stableVersion` / `canary.canaryVersion`). */
export function releaseImages(model: PlatformModel): Map<string, ServiceRelease[]> {
  const byImage = new Map<string, ServiceRelease[]>();
  for (const release of model.service.releases) {
    pinnedImage(release.release === 'stable' ? 'canary.stableVersion' : 'canary.canaryVersion', release.image);
    byImage.set(release.image, [...(byImage.get(release.image) ?? []), release]);
  }
  return byImage;
}

/**
 * Migrations run from the canary's image: it is the newer release, and its migrations must be
 * backward compatible with the stable one (expand first, contract after the canary is promoted).
 */
export const migrationRelease = (model: PlatformModel): ServiceRelease => model.service.releases[1];

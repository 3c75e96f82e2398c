import type { PlatformModel } from '../model.js';

/** nginx.conf with the stable/canary split at model.canary.weight (0..100). */
export function renderNginxConf(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderNginxConf');
}

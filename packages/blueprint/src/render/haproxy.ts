import type { PlatformModel } from '../model.js';

/** haproxy.cfg: listen primary (check /primary), listen replicas (check /replica), stats. */
export function renderHaproxyConfig(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderHaproxyConfig');
}

import type { PatroniMember, PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** patroni.yml of one member (etcd3 DCS, or the Kubernetes API on kubernetes). */
export function renderPatroniConfig(_model: PlatformModel, _member: PatroniMember, _secrets: PlatformSecrets): string {
  throw new Error('not implemented yet: renderPatroniConfig');
}

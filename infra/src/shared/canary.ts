import { NGINX_HEALTH_PATH, renderNginxConf, type PlatformModel } from '@numbering/blueprint';
import { checksum } from './checksum.js';

/** nginx.conf where nginx looks for it (`-p prefix` defaults to the image's /etc/nginx). */
export const nginxConfPath = (model: PlatformModel) => `${model.canary.prefix}/nginx.conf`;

/** The command the nginx containers run: the rendered file, in the foreground. */
export const nginxCommand = (model: PlatformModel) => ['nginx', '-c', nginxConfPath(model), '-g', 'daemon off;'];

export { NGINX_HEALTH_PATH };

/**
 * The rendered nginx.conf and its checksum. On Kubernetes the checksum is a pod-template annotation:
 * `pulumi config set canary.weight N` changes the file, hence the template, hence a rolling update of
 * nginx (new pods ready before old ones stop), which is how a weight change takes effect without a
 * failed request.
 */
export function canaryNginxConfig(model: PlatformModel): { conf: string; checksum: string } {
  const conf = renderNginxConf(model);
  return { conf, checksum: checksum(conf) };
}

import type * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { canaryNginxConfig, NGINX_HEALTH_PATH, nginxCommand, nginxConfPath } from '../shared/canary.js';
import { healthcheck, ImagePuller, platformContainer, type DockerComponentArgs } from './common.js';

export interface DockerCanaryArgs extends DockerComponentArgs {
  /** The service containers nginx proxies to: nginx resolves upstream names once, at start, so they must exist first. */
  upstreams: pulumi.Input<pulumi.Resource>[];
  /** Publish nginx on the Docker host's 127.0.0.1 at its container port. */
  publish: boolean;
}

/**
 * The canary split on Docker: nginx with the rendered weighted upstream. A weight change re-renders
 * nginx.conf, which replaces the container (a few seconds without nginx on the dev stack; the
 * Kubernetes target rolls instead).
 */
export class DockerCanary extends pulumi.ComponentResource {
  readonly nginx: docker.Container;
  readonly configChecksum: string;
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: DockerCanaryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:canary:Nginx', name, {}, opts);
    const { model } = args;
    const c = model.canary;
    const images = new ImagePuller(this);
    const { conf, checksum } = canaryNginxConfig(model);
    this.configChecksum = checksum;

    this.nginx = platformContainer(
      {
        name: 'nginx',
        component: 'canary',
        image: images.image('service.nginxImage', c.image),
        command: nginxCommand(model),
        uploads: [{ file: nginxConfPath(model), content: conf }],
        healthcheck: healthcheck(['CMD', 'curl', '-fsS', '-o', '/dev/null', `http://127.0.0.1:${c.listen.port}${NGINX_HEALTH_PATH}`]),
        publish: args.publish ? [{ internal: c.listen.port, external: c.listen.port }] : undefined,
      },
      args.docker,
      { parent: this, dependsOn: args.upstreams },
    );

    this.endpoint = pulumi.output(`http://127.0.0.1:${c.listen.port}`);
    this.registerOutputs({ endpoint: this.endpoint, configChecksum: checksum });
  }
}

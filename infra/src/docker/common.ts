import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { PlatformModel } from '@numbering/blueprint';
import { imageSlug, pinnedImage } from '../shared/images.js';
import { platformLabels } from '../shared/labels.js';

/** What every Docker component needs from the stack: the network its containers join and the name prefix. */
export interface DockerTarget {
  /** Name of the user-defined bridge network (its embedded DNS resolves the model's host names). */
  network: pulumi.Input<string>;
  /** Container and volume names start with it, so two stacks can share a Docker host. */
  prefix: string;
}

export interface DockerComponentArgs {
  model: PlatformModel;
  docker: DockerTarget;
}

/** A file placed into a container before it starts (Docker's `uploads`). */
export interface Upload {
  file: string;
  content: pulumi.Input<string>;
  executable?: boolean;
}

/** A `docker run` healthcheck; `tests` is the exec form (no shell unless the test says so). */
export function healthcheck(tests: string[], startPeriod = '20s'): docker.types.input.ContainerHealthcheck {
  return { tests, interval: '10s', timeout: '5s', retries: 6, startPeriod, startInterval: '2s' };
}

/** Healthcheck over HTTP for images that carry busybox or wget (Prometheus, Alertmanager, Grafana, exporters). */
export const wgetHealthcheck = (url: string) => healthcheck(['CMD', 'wget', '-q', '-O', '/dev/null', url]);

/** Healthcheck that only needs bash: a TCP connect (for images without an HTTP client). */
export const tcpHealthcheck = (port: number) => healthcheck(['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]);

/**
 * Pulls each distinct image once per component. Containers then run the pulled image by its ID, so
 * the tag is resolved once at pull time and a container never silently moves to a re-pushed tag.
 */
export class ImagePuller {
  private readonly pulled = new Map<string, docker.RemoteImage>();
  constructor(private readonly parent: pulumi.Resource) {}

  /** `key` is the config key of the image, named in the error when it is not pinned. */
  image(key: string, image: string): pulumi.Output<string> {
    pinnedImage(key, image);
    let remote = this.pulled.get(image);
    if (!remote) {
      remote = new docker.RemoteImage(`image-${imageSlug(image)}`, { name: image, keepLocally: true }, { parent: this.parent });
      this.pulled.set(image, remote);
    }
    return remote.imageId;
  }
}

export interface ContainerSpec {
  /** Name in the model (and the network alias other containers resolve). */
  name: string;
  component: string;
  image: pulumi.Input<string>;
  command?: pulumi.Input<pulumi.Input<string>[]>;
  entrypoints?: pulumi.Input<string>[];
  envs?: pulumi.Input<pulumi.Input<string>[]>;
  uploads?: Upload[];
  volumes?: { volume: docker.Volume; path: string }[];
  /** Long-running containers must have one; one-shots must not (see `oneShot`). */
  healthcheck?: docker.types.input.ContainerHealthcheck;
  /** A job that runs to completion once (cluster create, migrations): no restart, Pulumi waits for its exit. */
  oneShot?: boolean;
  /** Publish on the Docker host's loopback (developer entry points only). */
  publish?: { internal: number; external: number }[];
  user?: string;
  tmpfs?: Record<string, string>;
  /** Let dependants start only once this container reports healthy. */
  waitHealthy?: boolean;
  /** Extra network aliases (replicas share their release's name). */
  aliases?: string[];
}

/** One container on the platform network, with the conventions every component shares. */
export function platformContainer(spec: ContainerSpec, target: DockerTarget, opts: pulumi.CustomResourceOptions): docker.Container {
  if (!spec.oneShot && !spec.healthcheck) throw new Error(`container ${spec.name}: a long-running container needs a healthcheck`);
  const labels = Object.entries({ ...platformLabels(spec.component, spec.name), 'numbering.io/one-shot': String(Boolean(spec.oneShot)) }).map(([label, value]) => ({ label, value }));
  return new docker.Container(
    spec.name,
    {
      name: `${target.prefix}-${spec.name}`,
      hostname: spec.name,
      image: spec.image,
      command: spec.command,
      entrypoints: spec.entrypoints,
      envs: spec.envs,
      user: spec.user,
      labels,
      networksAdvanced: [{ name: target.network, aliases: [spec.name, ...(spec.aliases ?? [])] }],
      uploads: spec.uploads?.map((u) => ({ file: u.file, content: u.content, executable: u.executable ?? false })),
      volumes: spec.volumes?.map((v) => ({ volumeName: v.volume.name, containerPath: v.path })),
      ports: spec.publish?.map((p) => ({ internal: p.internal, external: p.external, ip: '127.0.0.1' })),
      tmpfs: spec.tmpfs,
      healthcheck: spec.healthcheck,
      ...(spec.oneShot
        ? { restart: 'no', mustRun: false, attach: true, logs: true }
        : { restart: 'unless-stopped', wait: spec.waitHealthy ?? false, waitTimeout: 180 }),
    },
    // Names are fixed (the model's hosts), so a replacement must remove the old container first.
    { deleteBeforeReplace: true, ...opts },
  );
}

/** A named volume for a container's state; survives container replacement (new image, new config). */
export function platformVolume(name: string, target: DockerTarget, parent: pulumi.Resource): docker.Volume {
  return new docker.Volume(`${name}-volume`, { name: `${target.prefix}-${name}` }, { parent, retainOnDelete: true });
}

/** `KEY=value` lines for Docker's `envs` from an environment map (kept secret when the map is). */
export function envList(env: pulumi.Input<Record<string, string>>): pulumi.Output<string[]> {
  return pulumi.output(env).apply((e) => Object.entries(e).map(([k, v]) => `${k}=${v}`));
}

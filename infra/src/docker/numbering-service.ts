import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { endpointString, migrationEnvironment, serviceEnvironment, type PlatformSecrets, type ServiceRelease } from '@numbering/blueprint';
import { imageSlug } from '../shared/images.js';
import { MIGRATE_COMMAND, migrationRelease, nodeHttpCheck, releaseImages, REPO_ROOT, SERVICE_DOCKERFILE, SERVICE_HEALTH } from '../shared/service.js';
import { envList, healthcheck, platformContainer, type DockerComponentArgs } from './common.js';

export interface DockerNumberingServiceArgs extends DockerComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
  /** What must be up before migrations run and the service starts (MariaDB, the formed Redis Cluster). */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The numbering service on Docker: its image built from services/numbering/Dockerfile and tagged per
 * release (`service.image:canary.stableVersion` and `:canary.canaryVersion`), the migration one-shot,
 * and `service.replicas` containers per release sharing the release's name (Docker's DNS returns all
 * of them, so nginx and Prometheus see every replica).
 */
export class DockerNumberingService extends pulumi.ComponentResource {
  readonly images: docker.Image[] = [];
  readonly migration: docker.Container;
  readonly containers: Record<'stable' | 'canary', docker.Container[]>;
  readonly endpoints: pulumi.Output<Record<'stable' | 'canary', string>>;

  constructor(name: string, args: DockerNumberingServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:service:NumberingService', name, {}, opts);
    const { model, secrets } = args;

    // One build per distinct tag. Both tags are built from this checkout: the dev stack runs what is on
    // disk. Containers reference the built image's ID, so a rebuild under the same tag still replaces them.
    const imageIds = new Map<string, pulumi.Output<string>>();
    for (const [tag] of releaseImages(model)) {
      const image = new docker.Image(
        `image-${imageSlug(tag)}`,
        {
          imageName: tag,
          build: { context: REPO_ROOT, dockerfile: `${REPO_ROOT}/${SERVICE_DOCKERFILE}`, builderVersion: 'BuilderBuildKit' },
          skipPush: true,
          buildOnPreview: false,
        },
        { parent: this },
      );
      this.images.push(image);
      imageIds.set(tag, image.repoDigest);
    }
    const imageOf = (release: ServiceRelease) => imageIds.get(release.image)!;

    const migrator = migrationRelease(model);
    this.migration = platformContainer(
      {
        name: 'numbering-migrate',
        component: 'service',
        image: imageOf(migrator),
        command: MIGRATE_COMMAND,
        envs: envList(secrets.apply((s) => migrationEnvironment(model, s))),
        oneShot: true,
      },
      args.docker,
      { parent: this, dependsOn: args.dependsOn },
    );

    const [stable, canary] = model.service.releases;
    const replicas = (release: ServiceRelease) =>
      Array.from({ length: model.service.replicas }, (_, i) =>
        platformContainer(
          {
            name: `${release.name}-${i}`,
            aliases: [release.host],
            component: 'service',
            image: imageOf(release),
            envs: envList(secrets.apply((s) => serviceEnvironment(model, release, s))),
            healthcheck: healthcheck(['CMD', ...nodeHttpCheck(release.port, SERVICE_HEALTH.ready)]),
            waitHealthy: true,
          },
          args.docker,
          { parent: this, dependsOn: [this.migration, ...args.dependsOn] },
        ),
      );
    this.containers = { stable: replicas(stable), canary: replicas(canary) };

    this.endpoints = pulumi.output({ stable: endpointString(stable), canary: endpointString(canary) });
    this.registerOutputs({ endpoints: this.endpoints });
  }
}

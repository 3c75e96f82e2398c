import type * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { endpointString, redisClusterCreateArgs, renderRedisAcl, renderRedisConf, type PlatformSecrets } from '@numbering/blueprint';
import { EXPORTER_HEALTH_PATH, redisExporterEnv } from '../shared/exporters.js';
import { REDIS_CLUSTER_INIT_NAME, REDIS_CLUSTER_INIT_SCRIPT } from '../shared/redis-cluster-init.js';
import { envList, healthcheck, ImagePuller, platformContainer, platformVolume, wgetHealthcheck, type DockerComponentArgs } from './common.js';

export interface DockerRedisClusterArgs extends DockerComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
}

const CONF = '/etc/redis/redis.conf';

/**
 * Redis Cluster on Docker: one container per model node (3 masters + 3 replicas by default), each
 * with its own volume for nodes.conf, AOF and RDB, the one-shot that forms the cluster, and the
 * redis-exporter that Prometheus reads every node through.
 */
export class DockerRedisCluster extends pulumi.ComponentResource {
  readonly nodes: docker.Container[];
  readonly clusterInit: docker.Container;
  readonly exporter: docker.Container;
  /** `host:port` of every node, as clients configure them (REDIS_NODES). */
  readonly endpoints: pulumi.Output<string[]>;

  constructor(name: string, args: DockerRedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:redis:Cluster', name, {}, opts);
    const { model, secrets } = args;
    const r = model.redis;
    const images = new ImagePuller(this);
    const image = images.image('redis.image', r.image);
    const acl = secrets.apply((s) => renderRedisAcl(model, s));

    this.nodes = r.nodes.map((node) =>
      platformContainer(
        {
          name: node.name,
          component: 'redis',
          image,
          command: ['redis-server', CONF],
          uploads: [
            { file: CONF, content: secrets.apply((s) => renderRedisConf(model, node, s)) },
            { file: r.aclFile, content: acl },
          ],
          volumes: [{ volume: platformVolume(`${node.name}-data`, args.docker, this), path: node.dir }],
          // The default user is off, so an unauthenticated PING answers NOAUTH: that still proves the
          // server accepts and answers commands, without a password in the container's config.
          healthcheck: healthcheck(['CMD-SHELL', `redis-cli -p ${node.port} ping 2>&1 | grep -qE 'PONG|NOAUTH'`]),
          waitHealthy: true,
        },
        args.docker,
        { parent: this },
      ),
    );

    this.clusterInit = platformContainer(
      {
        name: REDIS_CLUSTER_INIT_NAME,
        component: 'redis',
        image,
        command: secrets.apply((s) => ['sh', '-c', REDIS_CLUSTER_INIT_SCRIPT, REDIS_CLUSTER_INIT_NAME, ...redisClusterCreateArgs(model, s)]),
        oneShot: true,
      },
      args.docker,
      { parent: this, dependsOn: this.nodes },
    );

    this.exporter = platformContainer(
      {
        name: 'redis-exporter',
        component: 'redis',
        image: images.image('monitoring.redisExporterImage', model.monitoring.config.redisExporterImage),
        envs: envList(secrets.apply((s) => ({ ...redisExporterEnv(model), REDIS_PASSWORD: s.redis.exporter }))),
        // The default redis_exporter image is FROM scratch and has no client to probe with; the dev
        // stack runs its -alpine variant (Pulumi.dev.yaml), whose busybox wget this uses.
        healthcheck: wgetHealthcheck(`http://127.0.0.1:${r.exporter.port}${EXPORTER_HEALTH_PATH.redis}`),
      },
      args.docker,
      { parent: this, dependsOn: [this.clusterInit] },
    );

    this.endpoints = pulumi.output(r.nodes.map(endpointString));
    this.registerOutputs({ endpoints: this.endpoints });
  }
}

import type * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import {
  endpointString,
  renderHaproxyConfig,
  renderPatroniConfig,
  renderPgbouncerIni,
  renderPgbouncerUserlist,
  renderPostgresBootstrapSql,
  type PlatformSecrets,
} from '@numbering/blueprint';
import { ETCD_DATA_DIR, etcdArgs, etcdMembers, PATRONI_HEALTH, POSTGRES_PATHS } from '../shared/postgres.js';
import { healthcheck, ImagePuller, platformContainer, platformVolume, tcpHealthcheck, type DockerComponentArgs } from './common.js';

export interface DockerPostgresHaArgs extends DockerComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
}

/** Starts Patroni as the postgres user, after giving it the volume and the socket directory (both root-owned when fresh). */
const PATRONI_LAUNCH = 'mkdir -p "$1" "$2" && chown postgres:postgres "$1" "$2" && exec setpriv --reuid=postgres --regid=postgres --init-groups patroni "$3"';

/**
 * PostgreSQL HA on Docker: a 3-member etcd cluster as DCS, one Patroni container per member (each
 * with its rendered patroni.yml and a volume), HAProxy routing to the leader (:5000) and the replicas
 * (:5001) by Patroni's REST checks, and PgBouncer in front of HAProxy.
 */
export class DockerPostgresHa extends pulumi.ComponentResource {
  readonly etcd: docker.Container[];
  readonly members: docker.Container[];
  readonly haproxy: docker.Container;
  readonly pgbouncer: docker.Container;
  /** PgBouncer, where clients connect. */
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: DockerPostgresHaArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:postgres:PatroniCluster', name, {}, opts);
    const { model, secrets } = args;
    const pg = model.postgres;
    const images = new ImagePuller(this);

    const etcdImage = images.image('postgres.etcdImage', pg.config.etcdImage);
    this.etcd = etcdMembers(model).map((member) =>
      platformContainer(
        {
          name: member.host,
          component: 'postgres',
          image: etcdImage,
          command: etcdArgs(model, member),
          volumes: [{ volume: platformVolume(`${member.host}-data`, args.docker, this), path: ETCD_DATA_DIR }],
          // The image is distroless: etcdctl is there, a shell is not.
          healthcheck: healthcheck(['CMD', 'etcdctl', `--endpoints=http://127.0.0.1:${member.port}`, 'endpoint', 'health']),
          waitHealthy: true,
        },
        args.docker,
        { parent: this },
      ),
    );

    const postgresImage = images.image('postgres.image', pg.config.image);
    const bootstrapSql = secrets.apply((s) => renderPostgresBootstrapSql(model, s));
    this.members = pg.members.map((member) =>
      platformContainer(
        {
          name: member.name,
          component: 'postgres',
          image: postgresImage,
          entrypoints: ['sh', '-c', PATRONI_LAUNCH, 'patroni-launch', POSTGRES_PATHS.dataRoot, POSTGRES_PATHS.socketDir, POSTGRES_PATHS.config],
          envs: ['HOME=/home/postgres'],
          uploads: [
            { file: POSTGRES_PATHS.config, content: secrets.apply((s) => renderPatroniConfig(model, member, s, { postBootstrapSqlFile: POSTGRES_PATHS.bootstrapSql })) },
            { file: POSTGRES_PATHS.bootstrapSql, content: bootstrapSql },
          ],
          volumes: [{ volume: platformVolume(`${member.name}-data`, args.docker, this), path: POSTGRES_PATHS.dataRoot }],
          healthcheck: healthcheck(['CMD', 'curl', '-fsS', '-o', '/dev/null', `http://127.0.0.1:${member.restPort}${PATRONI_HEALTH.health}`], '60s'),
        },
        args.docker,
        { parent: this, dependsOn: this.etcd },
      ),
    );

    this.haproxy = platformContainer(
      {
        name: 'haproxy',
        component: 'postgres',
        image: images.image('postgres.haproxyImage', pg.config.haproxyImage),
        uploads: [{ file: POSTGRES_PATHS.haproxyConfig, content: renderHaproxyConfig(model) }],
        // The image has bash but no HTTP client; the stats listener accepting is HAProxy being up.
        healthcheck: tcpHealthcheck(pg.haproxy.statsPort),
      },
      args.docker,
      { parent: this, dependsOn: this.members },
    );

    this.pgbouncer = platformContainer(
      {
        name: 'pgbouncer',
        component: 'postgres',
        image: images.image('postgres.pgbouncerImage', pg.config.pgbouncerImage),
        entrypoints: [POSTGRES_PATHS.pgbouncerBinary],
        command: [POSTGRES_PATHS.pgbouncerIni],
        uploads: [
          { file: POSTGRES_PATHS.pgbouncerIni, content: renderPgbouncerIni(model) },
          { file: pg.pgbouncer.authFile, content: secrets.apply((s) => renderPgbouncerUserlist(model, s)) },
        ],
        healthcheck: tcpHealthcheck(pg.pgbouncer.port),
      },
      args.docker,
      { parent: this, dependsOn: [this.haproxy] },
    );

    this.endpoint = pulumi.output(endpointString(pg.pgbouncer));
    this.registerOutputs({ endpoint: this.endpoint });
  }
}

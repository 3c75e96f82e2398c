import type * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { endpointString, renderMariaDbCnf, renderMariaDbInitSql, renderMysqldExporterCnf, type PlatformSecrets } from '@numbering/blueprint';
import { EXPORTER_HEALTH_PATH } from '../shared/exporters.js';
import { MARIADB_HEALTHCHECK, MARIADB_PATHS, mariaDbDirectories, mariaDbServerArgs } from '../shared/mariadb.js';
import { healthcheck, ImagePuller, platformContainer, platformVolume, wgetHealthcheck, type DockerComponentArgs } from './common.js';

export interface DockerMariaDbArgs extends DockerComponentArgs {
  secrets: pulumi.Output<PlatformSecrets>;
}

const ROOT_PASSWORD_FILE = '/run/secrets/mariadb-root-password';

/**
 * MariaDB on Docker: the tuned numbering cnf, the init SQL (database, least-privilege users) run on
 * every start, a volume for the datadir, and mysqld-exporter.
 */
export class DockerMariaDb extends pulumi.ComponentResource {
  readonly server: docker.Container;
  readonly exporter: docker.Container;
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: DockerMariaDbArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:mariadb:MariaDb', name, {}, opts);
    const { model, secrets } = args;
    const m = model.mariadb;
    const images = new ImagePuller(this);

    this.server = platformContainer(
      {
        name: m.name,
        component: 'mariadb',
        image: images.image('mariadb.image', m.config.image),
        // The binlog and slow-log directories live in the datadir volume and must exist before the
        // image's entrypoint initializes it; then the entrypoint runs as usual.
        entrypoints: ['sh', '-c', 'mkdir -p "$@" && chown mysql:mysql "$@" && exec docker-entrypoint.sh ' + mariaDbServerArgs().join(' '), 'mariadb-dirs', ...mariaDbDirectories(model)],
        envs: [`MARIADB_ROOT_PASSWORD_FILE=${ROOT_PASSWORD_FILE}`],
        uploads: [
          { file: MARIADB_PATHS.cnf, content: renderMariaDbCnf(model) },
          { file: MARIADB_PATHS.initSql, content: secrets.apply((s) => renderMariaDbInitSql(model, s)) },
          { file: ROOT_PASSWORD_FILE, content: secrets.apply((s) => s.mariadb.root) },
        ],
        volumes: [{ volume: platformVolume('mariadb-data', args.docker, this), path: m.datadir }],
        healthcheck: healthcheck(['CMD', ...MARIADB_HEALTHCHECK], '60s'),
        waitHealthy: true,
      },
      args.docker,
      { parent: this },
    );

    this.exporter = platformContainer(
      {
        name: 'mysqld-exporter',
        component: 'mariadb',
        image: images.image('mariadb.exporterImage', m.config.exporterImage),
        command: [`--config.my-cnf=${MARIADB_PATHS.exporterCnf}`, `--web.listen-address=:${m.exporter.port}`],
        uploads: [{ file: MARIADB_PATHS.exporterCnf, content: secrets.apply((s) => renderMysqldExporterCnf(model, s)) }],
        healthcheck: wgetHealthcheck(`http://127.0.0.1:${m.exporter.port}${EXPORTER_HEALTH_PATH.mysqld}`),
      },
      args.docker,
      { parent: this, dependsOn: [this.server] },
    );

    this.endpoint = pulumi.output(endpointString(m));
    this.registerOutputs({ endpoint: this.endpoint });
  }
}

import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { platformLabels } from '../shared/labels.js';

export interface PlatformNetworkArgs {
  /** Docker name of the network; also the prefix of every container and volume of the stack. */
  name: string;
}

/**
 * The user-defined bridge network every container joins. Docker's embedded DNS on it answers the
 * container names and aliases the platform model uses as hosts (`redis-0`, `mariadb`, ...).
 */
export class PlatformNetwork extends pulumi.ComponentResource {
  readonly network: docker.Network;
  readonly name: pulumi.Output<string>;

  constructor(name: string, args: PlatformNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:docker:Network', name, {}, opts);
    this.network = new docker.Network(
      'network',
      {
        name: args.name,
        driver: 'bridge',
        labels: Object.entries(platformLabels('network', args.name)).map(([label, value]) => ({ label, value })),
      },
      { parent: this },
    );
    this.name = this.network.name;
    this.registerOutputs({ name: this.name });
  }
}

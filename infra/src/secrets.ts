import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { PlatformSecrets } from '@numbering/blueprint';
import type { AlertingSecrets } from './config.js';

type PasswordGroup = Exclude<keyof PlatformSecrets, 'alerting'>;

/**
 * One generated password per `PlatformSecrets` field. The `satisfies` clause and `MissingFields` below
 * make the compiler fail when PlatformSecrets gains a field that nobody generates.
 */
export const PASSWORD_FIELDS = {
  redis: ['admin', 'app', 'replication', 'exporter'],
  mariadb: ['root', 'app', 'migrator', 'exporter', 'backup'],
  postgres: ['superuser', 'replication', 'rewind', 'app'],
  service: ['adminToken'],
} as const satisfies { [G in PasswordGroup]: readonly (keyof PlatformSecrets[G])[] };

type MissingFields = { [G in PasswordGroup]: Exclude<keyof PlatformSecrets[G], (typeof PASSWORD_FIELDS)[G][number]> }[PasswordGroup];
const everyFieldGenerated: [MissingFields] extends [never] ? true : MissingFields = true;
void everyFieldGenerated;

export interface CredentialsArgs {
  /** Alert receiver credentials from `pulumi config set --secret alerting.*`; absent ones disable their receiver. */
  alerting: AlertingSecrets;
}

/**
 * Every credential of the platform. Passwords are alphanumeric on purpose: they end up in redis.conf
 * and users.acl (no quoting at all), an ini file for mysqld-exporter, DSNs and shell arguments, and 32
 * characters of [A-Za-z0-9] still carry about 190 bits.
 */
export class Credentials extends pulumi.ComponentResource {
  /** Every credential, marked secret: renderers run inside `.apply` on it, so files holding one stay secret. */
  readonly secrets: pulumi.Output<PlatformSecrets>;
  /** Grafana's admin password (Grafana is not in PlatformSecrets; see infra/README.md). */
  readonly grafanaAdminPassword: pulumi.Output<string>;
  readonly passwords: Record<string, random.RandomPassword> = {};

  constructor(name: string, args: CredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:platform:Credentials', name, {}, opts);
    const password = (id: string, length = 32) => {
      const pw = new random.RandomPassword(id, { length, special: false, minNumeric: 2, minUpper: 2, minLower: 2 }, { parent: this });
      this.passwords[id] = pw;
      // RandomPassword.result is secret on a real engine already; wrap anyway so the guarantee does not
      // depend on the provider (under test mocks it is not).
      return pulumi.secret(pw.result);
    };
    const group = <G extends PasswordGroup>(g: G) =>
      pulumi.all(Object.fromEntries(PASSWORD_FIELDS[g].map((field) => [field, password(`${g}-${kebab(field)}`, field === 'adminToken' ? 48 : 32)]))) as unknown as pulumi.Output<PlatformSecrets[G]>;

    const alerting = pulumi.all(args.alerting).apply((values) => {
      const present: PlatformSecrets['alerting'] = {};
      for (const [k, v] of Object.entries(values)) if (v) present[k as keyof PlatformSecrets['alerting']] = v;
      return present;
    });
    const all: pulumi.Output<PlatformSecrets> = pulumi
      .all([group('redis'), group('mariadb'), group('postgres'), group('service'), alerting])
      .apply(([redis, mariadb, postgres, service, alertingValues]) => ({ redis, mariadb, postgres, service, alerting: alertingValues }));
    this.secrets = pulumi.secret(all);
    this.grafanaAdminPassword = password('grafana-admin');
    this.registerOutputs({ secrets: this.secrets, grafanaAdminPassword: this.grafanaAdminPassword });
  }
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

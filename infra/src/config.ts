import * as pulumi from '@pulumi/pulumi';
import { ConfigError, parsePlatformConfig, type PlatformConfig, type PlatformSecrets } from '@numbering/blueprint';
import { pinnedImage } from './shared/images.js';

/** The Pulumi project name: every key of ours is `numbering:<dotted key>`. */
export const PROJECT = 'numbering';

/**
 * Alert receiver credentials. They are not part of the typed blueprint config (which is plain text and
 * validated by schema); they are read with `getSecret`, so they stay secret from the stack file to the
 * rendered alertmanager.yml.
 */
export const ALERTING_KEYS = ['slackWebhookUrl', 'pagerdutyRoutingKey', 'telegramWebhookUrl', 'smtpPassword'] as const satisfies readonly (keyof PlatformSecrets['alerting'])[];

export type AlertingSecrets = { [K in (typeof ALERTING_KEYS)[number]]: pulumi.Output<string | undefined> };

export interface StackConfig {
  config: PlatformConfig;
  alerting: AlertingSecrets;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Turns Pulumi's config map (`{"numbering:canary.weight": "30", "kubernetes:context": "..."}`) into
 * the flat dotted map `parsePlatformConfig` reads. Only our project's keys count, alerting secrets
 * are left out, and a section set as an object (`pulumi config set --path canary.weight 30` stores
 * `numbering:canary` = `{"weight":30}`) is flattened. A key set both ways with different values
 * is an error, because nothing could tell which one the user meant.
 */
export function platformConfigInput(raw: Record<string, string>, project = PROJECT): Record<string, unknown> {
  const prefix = `${project}:`;
  const flat = new Map<string, { value: unknown; from: string }>();
  const problems: { key: string; message: string }[] = [];

  const put = (key: string, value: unknown, from: string) => {
    if (key === 'alerting' || key.startsWith('alerting.')) return;
    const seen = flat.get(key);
    if (seen) {
      if (String(seen.value) !== String(value)) {
        problems.push({
          key,
          message: `set twice with different values (${JSON.stringify(seen.value)} as ${seen.from}, ${JSON.stringify(value)} as ${from}); keep one: \`pulumi config rm ${key}\` or \`pulumi config rm --path ${key}\``,
        });
      }
      return;
    }
    flat.set(key, { value, from });
  };
  const flatten = (key: string, value: unknown, from: string) => {
    if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) flatten(`${key}.${k}`, v, from);
    else put(key, value, from);
  };

  // A project default whose key reached the program in Pulumi.yaml's bracket form (`["canary.weight"]`,
  // older CLIs do not resolve it to the flat key) counts only where the stack sets nothing itself.
  const bracketed = /^\["(.+)"\]$/;
  const defaults: [string, string][] = [];
  for (const [fullKey, value] of Object.entries(raw)) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    const m = bracketed.exec(key);
    if (m) {
      defaults.push([m[1]!, value]);
      continue;
    }
    // Pulumi hands object values to the program as JSON text.
    let parsed: unknown = value;
    if (typeof value === 'string' && value.startsWith('{')) {
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = value;
      }
    }
    if (isPlainObject(parsed)) flatten(key, parsed, `an object (--path)`);
    else put(key, parsed, 'a flat key');
  }
  for (const [key, value] of defaults) if (!flat.has(key)) put(key, value, 'a project default');
  if (problems.length) throw new ConfigError(problems);
  return Object.fromEntries([...flat].map(([k, v]) => [k, v.value]));
}

/** The error a user sees for a bad stack: one line per key, each in the form they can paste into `pulumi config set`. */
export function stackConfigErrorMessage(stack: string, error: ConfigError): string {
  const lines = error.problems.map((p) => `  - ${PROJECT}:${p.key}: ${p.message}`);
  return [`stack "${stack}" has invalid configuration (Pulumi.yaml, Pulumi.${stack}.yaml):`, ...lines, 'fix each key with `pulumi config set <key> <value>` (see infra/README.md for every key)'].join('\n');
}

/** Parses the whole raw config of a stack; a bad key becomes a RunError that lists every problem (no stack trace). */
export function parseStackConfig(raw: Record<string, string>, stack: string): PlatformConfig {
  let config: PlatformConfig;
  try {
    config = parsePlatformConfig(platformConfigInput(raw));
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(stackConfigErrorMessage(stack, e));
    throw e;
  }
  const unpinned = imageProblems(config);
  if (unpinned.length) throw new pulumi.RunError(stackConfigErrorMessage(stack, new ConfigError(unpinned)));
  if (config.target === 'local') {
    const problem = new ConfigError([{ key: 'target', message: 'a Pulumi stack targets "docker" (dev) or "kubernetes" (prod); "local" is the devstack (`pnpm devstack up`)' }]);
    throw new pulumi.RunError(stackConfigErrorMessage(stack, problem));
  }
  return config;
}

/** Every image the stack would run, by the key that sets it. */
export function configuredImages(config: PlatformConfig): [key: string, image: string][] {
  return [
    ['redis.image', config.redis.image],
    ['mariadb.image', config.mariadb.image],
    ['mariadb.exporterImage', config.mariadb.exporterImage],
    ['postgres.image', config.postgres.image],
    ['postgres.etcdImage', config.postgres.etcdImage],
    ['postgres.haproxyImage', config.postgres.haproxyImage],
    ['postgres.pgbouncerImage', config.postgres.pgbouncerImage],
    ['postgres.pgbackrestImage', config.postgres.pgbackrestImage],
    ['postgres.kubectlImage', config.postgres.kubectlImage],
    ['monitoring.prometheusImage', config.monitoring.prometheusImage],
    ['monitoring.alertmanagerImage', config.monitoring.alertmanagerImage],
    ['monitoring.grafanaImage', config.monitoring.grafanaImage],
    ['monitoring.redisExporterImage', config.monitoring.redisExporterImage],
    ['service.nginxImage', config.service.nginxImage],
    ['ops.image', config.ops.image],
    ['canary.stableVersion', `${config.service.image}:${config.canary.stableVersion}`],
    ['canary.canaryVersion', `${config.service.image}:${config.canary.canaryVersion}`],
  ];
}

/** Images without a version tag (or `latest`) are refused up front, with the key to change. */
export function imageProblems(config: PlatformConfig): { key: string; message: string }[] {
  const problems: { key: string; message: string }[] = [];
  for (const [key, image] of configuredImages(config)) {
    try {
      pinnedImage(key, image);
    } catch (e) {
      problems.push({ key, message: (e as Error).message.replace(`${key}: `, '') });
    }
  }
  return problems;
}

/** Reads the current stack's configuration: the typed platform config and the alert receiver secrets. */
export function readStackConfig(): StackConfig {
  const stack = pulumi.getStack();
  const raw = pulumi.runtime.allConfig();
  const config = parseStackConfig(raw, stack);
  const bag = new pulumi.Config(PROJECT);
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  const alerting = Object.fromEntries(
    ALERTING_KEYS.map((name) => {
      const key = `alerting.${name}`;
      if (raw[`${PROJECT}:${key}`] !== undefined && isSecret && !isSecret(`${PROJECT}:${key}`)) {
        pulumi.log.warn(`${PROJECT}:${key} is stored in plain text in Pulumi.${stack}.yaml; set it with \`pulumi config set --secret ${key} ...\``);
      }
      return [name, bag.getSecret(key)];
    }),
  ) as AlertingSecrets;
  return { config, alerting };
}

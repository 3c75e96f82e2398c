import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';

/**
 * The service is configured only by environment variables. The required names are exactly those of
 * packages/blueprint/src/service-env.ts (`serviceEnvironment`); the optional ones have defaults and
 * exist for tuning and for the benchmark (COALESCE=false runs the one-transaction-per-number design).
 */

const Port = (description: string) => Type.Integer({ minimum: 1, maximum: 65_535, description });
const Secret = (description: string) => Type.String({ minLength: 1, description });

export const ServiceEnvSchema = Type.Object({
  HOST: Type.String({ minLength: 1, description: 'listen address' }),
  PORT: Port('listen port'),
  RELEASE: Type.Union([Type.Literal('stable'), Type.Literal('canary')], { description: 'release this instance belongs to (X-Release header, metrics label)' }),
  SERVICE_VERSION: Type.String({ minLength: 1, description: 'version reported by /health' }),
  LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace')], { description: 'pino log level' }),
  DB_HOST: Type.String({ minLength: 1, description: 'MariaDB host' }),
  DB_PORT: Port('MariaDB port'),
  DB_NAME: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$', description: 'MariaDB database' }),
  DB_USER: Type.String({ minLength: 1, description: 'MariaDB user (SELECT, INSERT, UPDATE only)' }),
  DB_PASSWORD: Secret('MariaDB password'),
  DB_POOL_SIZE: Type.Integer({ minimum: 2, maximum: 500, description: 'MariaDB connection pool size' }),
  REDIS_NODES: Type.String({ pattern: '^[^,:\\s]+:[0-9]{1,5}(,[^,:\\s]+:[0-9]{1,5})*$', description: 'comma-separated host:port seed nodes of the Redis Cluster' }),
  REDIS_USER: Type.String({ minLength: 1, description: 'Redis ACL user' }),
  REDIS_PASSWORD: Secret('Redis ACL password'),
  ADMIN_TOKEN: Type.String({ minLength: 16, description: 'bearer token of the admin API (at least 16 characters)' }),
  RESERVATION_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, description: 'default lifetime of a reservation' }),
  LOCK_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, description: 'how long an allocation waits for the counter lock before 503' }),
  // Optional, with defaults.
  COALESCE: Type.Boolean({ default: true, description: 'coalesce concurrent allocations of one counter into one transaction' }),
  COALESCE_MAX_BATCH: Type.Integer({ minimum: 1, maximum: 5000, default: 256, description: 'most allocations per transaction' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 20, maximum: 10_000, default: 250, description: 'a Redis command slower than this counts as Redis unavailable' }),
  REDIS_LOCK_TTL_MS: Type.Optional(
    Type.Integer({ minimum: 50, maximum: 600_000, description: 'expiry of the Redis fast-path lock; default min(1000, LOCK_TIMEOUT_MS / 2)' }),
  ),
  REDIS_PROBE_INTERVAL_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 1000, description: 'how often fallback mode probes Redis' }),
  EXPIRY_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000, description: 'how often expired reservations are marked EXPIRED' }),
  NUMBERING_TIME_ZONE: Type.String({ default: 'UTC', description: 'IANA time zone of the date tokens and the yearly/monthly reset' }),
  // Test only: lets the end-to-end tests run a deliberately broken canary. The platform never sets it.
  FAULT_HTTP_500_RATIO: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'TEST ONLY: share (0..1) of /v1/ requests answered with 500 FAULT_INJECTED; 0 = off' }),
});

export type ServiceEnv = Static<typeof ServiceEnvSchema>;

export const MigrationEnvSchema = Type.Object({
  DB_HOST: ServiceEnvSchema.properties.DB_HOST,
  DB_PORT: ServiceEnvSchema.properties.DB_PORT,
  DB_NAME: ServiceEnvSchema.properties.DB_NAME,
  DB_USER: Type.String({ minLength: 1, description: 'MariaDB user allowed to run DDL (migrator)' }),
  DB_PASSWORD: Secret('MariaDB password of the migrator'),
});
export type MigrationEnv = Static<typeof MigrationEnvSchema>;

export class EnvError extends Error {
  constructor(readonly problems: readonly { name: string; message: string }[]) {
    super(`invalid environment:\n${problems.map((p) => `  - ${p.name}: ${p.message}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

const PLAIN: Record<string, { pattern: RegExp; what: string }> = {
  integer: { pattern: /^-?[0-9]+$/, what: 'an integer written in decimal digits' },
  number: { pattern: /^-?([0-9]+\.?[0-9]*|\.[0-9]+)$/, what: 'a plain decimal number such as 0.25' },
  boolean: { pattern: /^(true|false)$/, what: 'true or false' },
};

/** Validates `env` against `schema`; every problem names the variable. Secrets are never echoed. */
export function parseEnv<S extends TSchema>(schema: S, env: Record<string, string | undefined>): Static<S> {
  const { properties: props, required = [] } = schema as unknown as { properties: Record<string, TSchema & { description?: string; default?: unknown }>; required?: string[] };
  const raw: Record<string, unknown> = {};
  const problems: { name: string; message: string }[] = [];
  for (const [name, prop] of Object.entries(props)) {
    const value = env[name];
    if (value === undefined || value === '') {
      if (prop.default === undefined && required.includes(name)) problems.push({ name, message: `is required (${prop.description ?? 'no description'})` });
      continue;
    }
    // Value.Convert reads `true` as 1 and `0x1` or `1e3` as numbers (PORT=true would listen on port 1):
    // numbers and booleans must be written plainly, or they are refused before conversion.
    const plain = PLAIN[(prop as { type?: string }).type ?? ''];
    if (plain && !plain.pattern.test(value.trim())) {
      problems.push({ name, message: `must be ${plain.what}, got ${/PASSWORD|TOKEN/.test(name) ? '(hidden)' : JSON.stringify(value)} (${prop.description ?? ''})` });
      continue;
    }
    raw[name] = value;
  }
  const converted = Value.Convert(schema, Value.Default(schema, raw)) as Record<string, unknown>;
  for (const error of Value.Errors(schema, converted)) {
    const name = error.instancePath.replace(/^\//, '');
    if (!name || problems.some((p) => p.name === name)) continue;
    const secret = /PASSWORD|TOKEN/.test(name);
    const got = secret ? '(hidden)' : JSON.stringify(env[name]);
    problems.push({ name, message: `${error.message}, got ${got} (${props[name]?.description ?? ''})` });
  }
  if (problems.length === 0) {
    const tz = converted.NUMBERING_TIME_ZONE;
    if (typeof tz === 'string' && !isTimeZone(tz)) problems.push({ name: 'NUMBERING_TIME_ZONE', message: `unknown IANA time zone ${JSON.stringify(tz)}` });
  }
  if (problems.length) throw new EnvError(problems);
  return converted as Static<S>;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * A lock orphaned by a crash or a failover (its release went to a dead master) blocks its counter
 * until it expires, so it must expire well within the time a request may wait. A batch holds it for
 * milliseconds; if it expires early, the database row lock still serialises.
 */
export const redisLockTtlMs = (env: Pick<ServiceEnv, 'REDIS_LOCK_TTL_MS' | 'LOCK_TIMEOUT_MS'>) =>
  env.REDIS_LOCK_TTL_MS ?? Math.max(50, Math.min(1000, Math.floor(env.LOCK_TIMEOUT_MS / 2)));

export const loadServiceEnv = (env: Record<string, string | undefined> = process.env): ServiceEnv => parseEnv(ServiceEnvSchema, env);
export const loadMigrationEnv = (env: Record<string, string | undefined> = process.env): MigrationEnv => parseEnv(MigrationEnvSchema, env);

/** Redis seed nodes from REDIS_NODES (`host:port,host:port`). */
export function redisSeedNodes(env: Pick<ServiceEnv, 'REDIS_NODES'>): { host: string; port: number }[] {
  return env.REDIS_NODES.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
}

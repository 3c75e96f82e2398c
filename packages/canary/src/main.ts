import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, endpointString, type PlatformConfig } from '@numbering/blueprint';
import { openStack, repoRoot } from '@numbering/devstack';
import { DEFAULT_REQUEST, defaultReportName, runAbTest, summarizeAbTest, writeAbTestReport, type LoadTarget, type RequestSpec } from './abtest.js';
import { formatVerdict, thresholdsFromConfig, type Thresholds, type Verdict } from './analysis.js';
import { analyzeCanary, checkWindow, DEFAULT_EXCLUDED_ROUTES, DEFAULT_JOB, DEFAULT_WINDOW, PrometheusClient, type QueryOptions } from './prometheus.js';
import { checkSteps, DEFAULT_MAX_INCONCLUSIVE, runRollout } from './rollout.js';
import { devstackTarget } from './targets/devstack.js';
import { pulumiTarget } from './targets/pulumi.js';
import { checkWeight, type Log, type WeightTarget } from './targets/types.js';

/**
 * The `canary` command line, as a function: argv in, exit code out. cli.ts is the only place that
 * touches process.exit; tests call `main` with their own output, targets and sleep.
 */

export const EXIT_OK = 0;
/** Analysis failed or was inconclusive, a rollout rolled back, or an operation failed. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const usage = `usage: pnpm canary <command> [options]
  weight [N]              show, or set, canary.weight (0..100) and apply it
  analyze                 judge the canary from Prometheus: exit 0 pass, 1 fail or inconclusive
  promote                 canary becomes stable, then all traffic to stable
  rollback                all traffic back to stable (weight 0)
  run                     step through weights, analyze after each, promote or roll back
  abtest                  load-test both releases directly and write an HTML report

options (all commands):
  --stack devstack|dev|prod   where the weight lives (default devstack; dev/prod via the Pulumi Automation API)
  --workdir DIR               devstack directory (default DEVSTACK_DIR or <repo>/.devstack)
analyze, run:
  --prometheus URL            Prometheus base URL (default: the devstack's; required for dev/prod)
  --window 1m                 range of the rate/increase queries
  --max-deviation PCT         canary error rate may exceed stable's by PCT % (default monitoring.canaryErrorDeviationPct)
  --error-floor PCT           absolute error rate always allowed (default 1)
  --max-errors N              most canary 5xx in the window (default 10)
  --max-p95 MS                highest canary p95 latency (default monitoring.canaryLatencyP95Ms)
  --min-requests N            fewer canary requests is inconclusive (default 20)
  --job NAME                  Prometheus job of the service (default ${DEFAULT_JOB})
  --exclude-routes REGEX      routes left out (default ${DEFAULT_EXCLUDED_ROUTES}; "" keeps all)
run:
  --steps 10,30,50,75,100     weights in percent, increasing
  --interval 30s              wait after each weight change before analyzing (ms, s, m; bare number = seconds)
  --max-inconclusive 3        inconclusive analyses retried per step before it counts as failed
abtest:
  -n 1000 -c 10               requests per release, concurrency
  --method GET --path ${DEFAULT_REQUEST.path} [--body JSON]
  --stable-url URL --canary-url URL   (default: the devstack's release endpoints; required for dev/prod)
  --out FILE                  report file (default reports/abtest-<timestamp>.html)
exit codes: 0 ok, 1 analysis failed / inconclusive / rolled back / operation failed, 2 usage`;

export class UsageError extends Error {
  override name = 'UsageError';
}

const options = {
  stack: { type: 'string', default: 'devstack' },
  workdir: { type: 'string' },
  prometheus: { type: 'string' },
  window: { type: 'string' },
  'max-deviation': { type: 'string' },
  'error-floor': { type: 'string' },
  'max-errors': { type: 'string' },
  'max-p95': { type: 'string' },
  'min-requests': { type: 'string' },
  job: { type: 'string' },
  'exclude-routes': { type: 'string' },
  steps: { type: 'string' },
  interval: { type: 'string' },
  'max-inconclusive': { type: 'string' },
  requests: { type: 'string', short: 'n' },
  concurrency: { type: 'string', short: 'c' },
  method: { type: 'string' },
  path: { type: 'string' },
  body: { type: 'string' },
  'stable-url': { type: 'string' },
  'canary-url': { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

export type StackName = 'devstack' | 'dev' | 'prod';

export interface MainIo {
  out: Log;
  err: Log;
  /** Builds the weight target; tests inject fakes. */
  targetFor?: (stack: StackName, values: Values, log: Log) => WeightTarget;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

/** `30s`, `1m`, `500ms`, `2h`; a bare number is seconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${option} must be a duration like 500ms, 30s or 2m, got ${JSON.stringify(text)}`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * factor;
}

function number(text: string | undefined, option: string, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  const min = opts.min ?? 0;
  if (text.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || n < min || (opts.max !== undefined && n > opts.max)) {
    const range = opts.max !== undefined ? ` from ${min} to ${opts.max}` : ` >= ${min}`;
    throw new UsageError(`${option} must be ${opts.integer ? 'an integer' : 'a number'}${range}, got ${JSON.stringify(text)}`);
  }
  return n;
}

export function parseWeight(text: string): number {
  const n = Number(text);
  try {
    return checkWeight(text.trim() === '' ? NaN : n);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/got .*$/, `got ${JSON.stringify(text)}`));
  }
}

export function parseStepsOption(text: string): number[] {
  const steps = text.split(',').map((s) => s.trim());
  try {
    return checkSteps(steps.map((s) => (/^[0-9]+$/.test(s) ? Number(s) : NaN)));
  } catch (e) {
    throw new UsageError(`--steps ${JSON.stringify(text)}: ${(e as Error).message.replace(/^steps:? ?/, '')}`);
  }
}

function stackOf(values: Values): StackName {
  const s = values.stack ?? 'devstack';
  if (s !== 'devstack' && s !== 'dev' && s !== 'prod') throw new UsageError(`--stack must be devstack, dev or prod, got ${JSON.stringify(s)}`);
  return s;
}

const defaultTargetFor = (stack: StackName, values: Values, log: Log): WeightTarget =>
  stack === 'devstack' ? devstackTarget({ ...(values.workdir ? { workdir: values.workdir } : {}), log }) : pulumiTarget({ stack, log });

function thresholdOverrides(values: Values): Partial<Thresholds> {
  return {
    maxErrorDeviationPct: number(values['max-deviation'], '--max-deviation'),
    errorRateFloorPct: number(values['error-floor'], '--error-floor', { max: 100 }),
    maxCanaryErrors: number(values['max-errors'], '--max-errors', { integer: true }),
    maxP95Ms: number(values['max-p95'], '--max-p95'),
    minCanaryRequests: number(values['min-requests'], '--min-requests', { integer: true }),
  };
}

function queryOptions(values: Values): QueryOptions {
  const window = values.window ?? DEFAULT_WINDOW;
  try {
    checkWindow(window);
  } catch (e) {
    throw new UsageError(`--window: ${(e as Error).message}`);
  }
  return { window, job: values.job ?? DEFAULT_JOB, excludeRoutes: values['exclude-routes'] ?? DEFAULT_EXCLUDED_ROUTES };
}

function prometheusUrl(stack: StackName, values: Values): string {
  if (values.prometheus) return values.prometheus;
  if (stack !== 'devstack') throw new UsageError(`--prometheus URL is required for --stack ${stack} (e.g. a port-forward to the stack's Prometheus)`);
  const workdir = values.workdir;
  return `http://${endpointString(openStack(workdir ? { workdir } : {}).model.monitoring.prometheus)}`;
}

function abTargets(stack: StackName, values: Values): LoadTarget[] {
  let stableUrl = values['stable-url'];
  let canaryUrl = values['canary-url'];
  if (!stableUrl || !canaryUrl) {
    if (stack !== 'devstack') throw new UsageError(`--stable-url and --canary-url are required for --stack ${stack}`);
    const [stable, canary] = openStack(values.workdir ? { workdir: values.workdir } : {}).model.service.releases;
    stableUrl ??= `http://${endpointString(stable)}`;
    canaryUrl ??= `http://${endpointString(canary)}`;
  }
  return [
    { release: 'stable', url: stableUrl },
    { release: 'canary', url: canaryUrl },
  ];
}

export async function main(argv: string[], io: MainIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`canary: ${e.message}\n(run \`pnpm canary help\` for usage)`);
      return EXIT_USAGE;
    }
    io.err(e instanceof ConfigError ? `canary: ${e.message}` : `canary: ${(e as Error).message ?? String(e)}`);
    return EXIT_FAILED;
  }
}

async function dispatch(argv: string[], io: MainIo): Promise<number> {
  // `weight -5` would otherwise be rejected as an unknown option, without naming canary.weight.
  const negative = argv.find((a) => /^-[0-9]/.test(a));
  if (argv[0] === 'weight' && negative !== undefined) parseWeight(negative);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || command === 'help') {
    io.out(usage);
    return EXIT_OK;
  }
  if (!command) {
    io.err(usage);
    return EXIT_USAGE;
  }
  const known = ['weight', 'analyze', 'promote', 'rollback', 'run', 'abtest'];
  if (!known.includes(command)) {
    io.err(`canary: unknown command ${JSON.stringify(command)}\n${usage}`);
    return EXIT_USAGE;
  }
  const maxArgs = command === 'weight' ? 1 : 0;
  if (args.length > maxArgs) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(args[maxArgs])}`);

  const stack = stackOf(values);
  const log: Log = (line) => io.out(line);
  // Everything is validated before the target is built, so bad input never changes anything.
  const weight = command === 'weight' && args[0] !== undefined ? parseWeight(args[0]) : undefined;
  const steps = command === 'run' ? parseStepsOption(values.steps ?? '10,30,50,75,100') : undefined;
  const intervalMs = command === 'run' ? parseDuration(values.interval ?? '30s', '--interval') : 0;
  const maxInconclusive = number(values['max-inconclusive'], '--max-inconclusive', { integer: true }) ?? DEFAULT_MAX_INCONCLUSIVE;
  const overrides = thresholdOverrides(values);
  const query = command === 'analyze' || command === 'run' ? queryOptions(values) : undefined;
  const load =
    command === 'abtest'
      ? {
          requests: number(values.requests ?? '1000', '-n', { integer: true, min: 1 })!,
          concurrency: number(values.concurrency ?? '10', '-c', { integer: true, min: 1 })!,
          request: { method: (values.method ?? DEFAULT_REQUEST.method).toUpperCase(), path: values.path ?? DEFAULT_REQUEST.path, ...(values.body === undefined ? {} : { body: values.body }) } satisfies RequestSpec,
        }
      : undefined;

  if (command === 'abtest') {
    const report = await runAbTest(abTargets(stack, values), { ...load!, log });
    const file = resolve(values.out ?? join(repoRoot, 'reports', defaultReportName(report.startedAt)));
    writeAbTestReport(report, file);
    io.out(summarizeAbTest(report));
    io.out(`report: ${file}`);
    return EXIT_OK;
  }

  const target = (io.targetFor ?? defaultTargetFor)(stack, values, log);
  switch (command) {
    case 'weight': {
      if (weight === undefined) {
        io.out(`${target.name}: canary.weight ${await target.getWeight()}%`);
        return EXIT_OK;
      }
      await target.setWeight(weight);
      io.out(`${target.name}: canary.weight ${weight}%`);
      return EXIT_OK;
    }
    case 'promote':
      await target.promote();
      io.out(`${target.name}: promoted`);
      return EXIT_OK;
    case 'rollback':
      await target.rollback();
      io.out(`${target.name}: rolled back (weight 0)`);
      return EXIT_OK;
    case 'analyze': {
      const analyze = await analyzer(target, stack, values, overrides, query!);
      const verdict = await analyze();
      io.out(formatVerdict(verdict));
      return verdict.result === 'pass' ? EXIT_OK : EXIT_FAILED;
    }
    case 'run': {
      const analyze = await analyzer(target, stack, values, overrides, query!);
      const result = await runRollout({ steps: steps!, intervalMs, target, analyze, maxInconclusive, log, ...(io.sleep ? { sleep: io.sleep } : {}), ...(io.signal ? { signal: io.signal } : {}) });
      io.out(result.status === 'promoted' ? `promoted after ${result.steps.length} steps` : `rolled back at ${result.reachedWeight}%: ${result.reason}`);
      return result.status === 'promoted' ? EXIT_OK : EXIT_FAILED;
    }
  }
  throw new UsageError(`unknown command ${command}`);
}

async function analyzer(target: WeightTarget, stack: StackName, values: Values, overrides: Partial<Thresholds>, query: QueryOptions): Promise<() => Promise<Verdict>> {
  const config: PlatformConfig = await target.platformConfig();
  const thresholds = thresholdsFromConfig(config.monitoring, overrides);
  const client = new PrometheusClient(prometheusUrl(stack, values));
  return () => analyzeCanary(client, thresholds, query);
}

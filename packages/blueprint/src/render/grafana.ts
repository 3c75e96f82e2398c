import { stringify } from 'yaml';
import { endpointString, type PlatformModel } from '../model.js';
import { JOB, METRIC } from './metrics.js';

/**
 * Grafana dashboards as code: plain typed objects that serialise to Grafana's dashboard JSON model
 * (schemaVersion 39), provisioned from files. Every panel queries the one provisioned Prometheus
 * datasource by its fixed uid, so the dashboards work unchanged on every target.
 */

export const PROMETHEUS_DATASOURCE_UID = 'numbering-prometheus';
export const DASHBOARD_UIDS = { overview: 'numbering-overview', canary: 'numbering-canary' } as const;
export const GRAFANA_FOLDER = 'Numbering';

export interface DatasourceRef {
  type: 'prometheus';
  uid: string;
}

export interface PrometheusTarget {
  refId: string;
  datasource: DatasourceRef;
  /** PromQL; may use Grafana's `$__rate_interval`. */
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
}

export interface ThresholdStep {
  color: string;
  value: number | null;
}

export interface FieldDefaults {
  unit: string;
  min?: number;
  max?: number;
  decimals?: number;
  thresholds: { mode: 'absolute'; steps: ThresholdStep[] };
  mappings: { type: 'value'; options: Record<string, { text: string; color: string }> }[];
  custom?: { thresholdsStyle: { mode: 'off' | 'line' | 'dashed' } };
}

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Panel {
  id: number;
  type: 'timeseries' | 'stat' | 'bargauge';
  title: string;
  description: string;
  datasource: DatasourceRef;
  gridPos: GridPos;
  targets: PrometheusTarget[];
  fieldConfig: { defaults: FieldDefaults; overrides: never[] };
  options: Record<string, unknown>;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: 'browser';
  editable: boolean;
  graphTooltip: number;
  schemaVersion: number;
  version: number;
  refresh: string;
  time: { from: string; to: string };
  templating: { list: never[] };
  annotations: { list: never[] };
  panels: Panel[];
}

const datasource: DatasourceRef = { type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID };

interface PanelSpec {
  type: Panel['type'];
  title: string;
  description: string;
  /** [expr, legend] per query. */
  queries: [string, string][];
  unit: string;
  min?: number;
  max?: number;
  /** Values where the colour turns orange, then red. */
  thresholds?: number[];
  /** Draw the thresholds as lines on a time series. */
  thresholdLines?: boolean;
  /** Lower values are worse (e.g. nodes up): red below the first threshold. */
  lowIsBad?: boolean;
  valueText?: Record<string, { text: string; color: string }>;
  w: number;
  h?: number;
}

function panel(spec: PanelSpec, id: number, gridPos: GridPos): Panel {
  const colors = spec.lowIsBad ? ['red', 'green'] : ['green', 'orange', 'red'];
  const steps: ThresholdStep[] = [{ color: colors[0]!, value: null }, ...(spec.thresholds ?? []).map((value, i) => ({ color: colors[i + 1] ?? 'red', value }))];
  const defaults: FieldDefaults = {
    unit: spec.unit,
    ...(spec.min !== undefined ? { min: spec.min } : {}),
    ...(spec.max !== undefined ? { max: spec.max } : {}),
    thresholds: { mode: 'absolute', steps },
    mappings: spec.valueText ? [{ type: 'value', options: spec.valueText }] : [],
    ...(spec.type === 'timeseries' ? { custom: { thresholdsStyle: { mode: spec.thresholdLines ? 'dashed' : 'off' } } } : {}),
  };
  const options: Record<string, unknown> =
    spec.type === 'timeseries'
      ? { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } }
      : spec.type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none', textMode: 'value_and_name' }
        : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, orientation: 'horizontal', displayMode: 'gradient', showUnfilled: true };
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource,
    gridPos,
    targets: spec.queries.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource, expr, legendFormat, range: spec.type === 'timeseries', instant: spec.type !== 'timeseries' })),
    fieldConfig: { defaults, overrides: [] },
    options,
  };
}

/** Lays panels out left to right on Grafana's 24-column grid, wrapping to a new row when full. */
function layout(specs: PanelSpec[]): Panel[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return specs.map((spec, i) => {
    const h = spec.h ?? 8;
    if (x + spec.w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const p = panel(spec, i + 1, { x, y, w: spec.w, h });
    x += spec.w;
    rowHeight = Math.max(rowHeight, h);
    return p;
  });
}

function dashboard(uid: string, title: string, description: string, specs: PanelSpec[]): GrafanaDashboard {
  return {
    uid,
    title,
    description,
    tags: ['numbering'],
    timezone: 'browser',
    // Provisioned from files: edits in the UI would be lost on the next deploy.
    editable: false,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [] },
    annotations: { list: [] },
    panels: layout(specs),
  };
}

const svc = (metric: string, extra = '') => `${metric}{job="${JOB.numbering}"${extra}}`;
const rate = (metric: string, extra = '') => `rate(${svc(metric, extra)}[$__rate_interval])`;

function overview(model: PlatformModel): GrafanaDashboard {
  const mon = model.monitoring.config;
  const quantile = (q: number) => `histogram_quantile(${q}, sum by (le) (${rate(`${METRIC.lockWait}_bucket`)}))`;
  const redisNodes = model.redis.nodes.length;
  return dashboard(DASHBOARD_UIDS.overview, 'Numbering overview', 'Numbers issued, counter range use, lock contention, Redis and database health of the numbering service.', [
    {
      type: 'timeseries',
      title: 'Numbers per minute by type',
      description: 'Numbers handed out per minute, by document type and outcome.',
      queries: [[`sum by (type, outcome) (${rate(METRIC.numbersGenerated)}) * 60`, '{{type}} {{outcome}}']],
      unit: 'short',
      min: 0,
      w: 12,
    },
    {
      type: 'bargauge',
      title: 'Sequence utilization',
      description: `Share of each counter's range already used. Alerts at ${mon.sequenceWarningRatio * 100} % (warning) and ${mon.sequenceCriticalRatio * 100} % (critical).`,
      queries: [[`max by (counter_key, template) (${svc(METRIC.sequenceUtilization)})`, '{{counter_key}}']],
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholds: [mon.sequenceWarningRatio, mon.sequenceCriticalRatio],
      w: 12,
    },
    {
      type: 'timeseries',
      title: 'Counter lock wait',
      description: `Time requests waited for the counter lock. The HighLockWaitTime alert fires when p95 stays above ${mon.lockWaitP95Seconds} s; requests give up after ${model.service.lockTimeoutMs} ms.`,
      queries: [
        [quantile(0.5), 'p50'],
        [quantile(0.95), 'p95'],
        [quantile(0.99), 'p99'],
      ],
      unit: 's',
      min: 0,
      thresholds: [mon.lockWaitP95Seconds],
      thresholdLines: true,
      w: 12,
    },
    {
      type: 'timeseries',
      title: 'Lock failures per second',
      description: `Requests that did not get the counter lock, by reason. The HighLockFailureRate alert compares them with the numbers generated (threshold ${mon.lockFailureRatio * 100} %).`,
      queries: [[`sum by (reason) (${rate(METRIC.lockFailures)})`, '{{reason}}']],
      unit: 'ops',
      min: 0,
      w: 12,
    },
    {
      type: 'stat',
      title: 'Redis nodes up',
      description: `Redis Cluster nodes answering the exporter, of ${redisNodes}.`,
      queries: [[`sum(${METRIC.redisUp}{job="${JOB.redisCluster}"})`, 'nodes up']],
      unit: 'none',
      thresholds: [redisNodes],
      lowIsBad: true,
      w: 6,
      h: 6,
    },
    {
      type: 'stat',
      title: 'Locking mode',
      description: 'Redis: the normal path. DB only: the service could not reach Redis and takes the MariaDB row lock for every number.',
      queries: [[`max by (release) (${svc(METRIC.fallbackMode)})`, '{{release}}']],
      unit: 'none',
      thresholds: [1],
      valueText: { '0': { text: 'Redis', color: 'green' }, '1': { text: 'DB only', color: 'red' } },
      w: 6,
      h: 6,
    },
    {
      type: 'stat',
      title: 'Service instances up',
      description: 'Instances of each release Prometheus can scrape.',
      queries: [[`sum by (release) (up{job="${JOB.numbering}"})`, '{{release}}']],
      unit: 'none',
      thresholds: [1],
      lowIsBad: true,
      w: 12,
      h: 6,
    },
    {
      type: 'timeseries',
      title: 'MariaDB pool connections',
      description: `Connections of the service's MariaDB pools by state (each instance holds up to ${model.mariadb.config.poolSize}).`,
      queries: [[`sum by (state) (${svc(METRIC.dbPoolConnections)})`, '{{state}}']],
      unit: 'short',
      min: 0,
      w: 24,
    },
  ]);
}

function canaryVsStable(model: PlatformModel): GrafanaDashboard {
  const mon = model.monitoring.config;
  const count = `${METRIC.httpDuration}_count`;
  const quantile = (q: number) => `histogram_quantile(${q}, sum by (release, le) (${rate(`${METRIC.httpDuration}_bucket`)}))`;
  return dashboard(DASHBOARD_UIDS.canary, 'Canary vs stable', 'Rate, errors and duration (RED) of the stable and canary releases side by side.', [
    {
      type: 'timeseries',
      title: 'Requests per second by release',
      description: 'Request rate of each release, as counted by the service.',
      queries: [[`sum by (release) (${rate(count)})`, '{{release}}']],
      unit: 'reqps',
      min: 0,
      w: 16,
    },
    {
      type: 'stat',
      title: 'Canary share of requests',
      description: `Share of requests the canary served; nginx sends it canary.weight percent (now ${model.canary.weight} %).`,
      queries: [[`sum(${rate(count, ',release="canary"')}) / sum(${rate(count)})`, 'canary']],
      unit: 'percentunit',
      min: 0,
      max: 1,
      w: 8,
    },
    {
      type: 'timeseries',
      title: '5xx error ratio by release',
      description: `Share of requests answered with 5xx. HighErrorRate fires above ${mon.errorRatio * 100} % overall; CanaryHighErrorRate when the canary exceeds stable by ${mon.canaryErrorDeviationPct} %.`,
      queries: [[`sum by (release) (${rate(count, ',status_code=~"5.."')}) / sum by (release) (${rate(count)})`, '{{release}}']],
      unit: 'percentunit',
      min: 0,
      thresholds: [mon.errorRatio],
      thresholdLines: true,
      w: 24,
    },
    ...([
      [0.5, 'p50'],
      [0.95, 'p95'],
      [0.99, 'p99'],
    ] as const).map(
      ([q, name]): PanelSpec => ({
        type: 'timeseries',
        title: `Duration ${name} by release`,
        description: name === 'p95' ? `CanaryHighLatency fires when the canary p95 exceeds ${mon.canaryLatencyP95Ms} ms and the stable p95.` : `${name} request duration of each release.`,
        queries: [[quantile(q), '{{release}}']],
        unit: 's',
        min: 0,
        ...(name === 'p95' ? { thresholds: [mon.canaryLatencyP95Ms / 1000], thresholdLines: true } : {}),
        w: 8,
      }),
    ),
    {
      type: 'timeseries',
      title: 'Requests by route and status',
      description: 'Where the traffic goes and what it gets back, per release.',
      queries: [[`sum by (release, route, status_code) (${rate(count)})`, '{{release}} {{route}} {{status_code}}']],
      unit: 'reqps',
      min: 0,
      w: 24,
    },
  ]);
}

/** Dashboards as code: file name -> dashboard JSON model. */
export function grafanaDashboards(model: PlatformModel): Record<string, GrafanaDashboard> {
  return { [`${DASHBOARD_UIDS.overview}.json`]: overview(model), [`${DASHBOARD_UIDS.canary}.json`]: canaryVsStable(model) };
}

/** provisioning/datasources/prometheus.yml */
export function renderGrafanaDatasources(model: PlatformModel): string {
  const prometheus = model.monitoring.prometheus;
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: 'Prometheus',
        uid: PROMETHEUS_DATASOURCE_UID,
        type: 'prometheus',
        access: 'proxy',
        url: `http://${endpointString(prometheus)}`,
        isDefault: true,
        editable: false,
        // $__rate_interval is at least four scrape intervals only if Grafana knows the interval.
        jsonData: { timeInterval: model.monitoring.config.scrapeInterval, httpMethod: 'POST' },
      },
    ],
  });
}

/** provisioning/dashboards/numbering.yml, pointing at `dashboardsDir`. */
export function renderGrafanaDashboardProvider(dashboardsDir: string): string {
  if (!dashboardsDir.startsWith('/')) throw new Error(`dashboardsDir must be an absolute path (Grafana resolves it on its own host), got ${JSON.stringify(dashboardsDir)}`);
  return stringify({
    apiVersion: 1,
    providers: [
      {
        name: 'numbering',
        orgId: 1,
        folder: GRAFANA_FOLDER,
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 30,
        options: { path: dashboardsDir, foldersFromFilesStructure: false },
      },
    ],
  });
}

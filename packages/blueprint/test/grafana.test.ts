import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  METRIC,
  PROMETHEUS_DATASOURCE_UID,
  buildPlatform,
  defaultPlatformConfig,
  grafanaDashboards,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
  type GrafanaDashboard,
  type Target,
} from '../src/index.js';

const modelOf = (target: Target = 'local', overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig(target, overrides), { workdir: '/srv/devstack' });
const dashboards = (target: Target = 'local') => grafanaDashboards(modelOf(target));

describe('grafanaDashboards', () => {
  it('builds the overview and the canary dashboards under stable uids', () => {
    const all = dashboards();
    expect(Object.keys(all).sort()).toEqual(['numbering-canary.json', 'numbering-overview.json']);
    expect(all['numbering-overview.json']!.uid).toBe('numbering-overview');
    expect(all['numbering-canary.json']!.uid).toBe('numbering-canary');
    expect(all['numbering-overview.json']!.title).toBe('Numbering overview');
    expect(all['numbering-canary.json']!.title).toBe('Canary vs stable');
    // The uid is what links and alerts point at: it must not depend on the target or the config.
    expect(Object.values(dashboards('kubernetes')).map((d) => d.uid)).toEqual(Object.values(all).map((d) => d.uid));
  });

  it('has the panels the on-call needs', () => {
    const titles = (d: GrafanaDashboard) => d.panels.map((p) => p.title);
    const all = dashboards();
    expect(titles(all['numbering-overview.json']!)).toEqual(
      expect.arrayContaining(['Numbers per minute by type', 'Sequence utilization', 'Counter lock wait', 'Lock failures per second', 'Redis nodes up', 'Locking mode', 'MariaDB pool connections']),
    );
    expect(titles(all['numbering-canary.json']!)).toEqual(
      expect.arrayContaining(['Requests per second by release', '5xx error ratio by release', 'Duration p50 by release', 'Duration p95 by release', 'Duration p99 by release']),
    );
  });

  for (const [file, d] of Object.entries(dashboards())) {
    it(`${file}: every panel and query uses the provisioned Prometheus datasource`, () => {
      for (const p of d.panels) {
        expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID });
        expect(p.targets.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID });
      }
    });

    it(`${file}: panel ids and query refIds are unique, panels fit the grid without overlapping`, () => {
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of d.panels) expect(new Set(p.targets.map((t) => t.refId)).size, p.title).toBe(p.targets.length);
      const cells = new Set<string>();
      for (const p of d.panels) {
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
            cells.add(`${x},${y}`);
          }
        }
      }
    });

    it(`${file}: queries only the service metrics of the contract`, () => {
      const known = new Set<string>(Object.values(METRIC).flatMap((m) => [m, `${m}_bucket`, `${m}_count`, `${m}_sum`]));
      for (const p of d.panels) {
        for (const t of p.targets) {
          for (const name of t.expr.match(/\b(numbering_[a-z_]+|http_request_[a-z_]+)/g) ?? []) expect(known.has(name), `${p.title}: ${name}`).toBe(true);
        }
      }
    });

    it(`${file}: survives a JSON round trip unchanged (what Grafana reads from disk)`, () => {
      expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    });
  }

  it('draws the alert thresholds of the config', () => {
    const d = grafanaDashboards(modelOf('local', { 'monitoring.sequenceWarningRatio': 0.7, 'monitoring.sequenceCriticalRatio': 0.8, 'monitoring.lockWaitP95Seconds': 0.5 }))['numbering-overview.json']!;
    const steps = (title: string) => d.panels.find((p) => p.title === title)!.fieldConfig.defaults.thresholds.steps.map((s) => s.value);
    expect(steps('Sequence utilization')).toEqual([null, 0.7, 0.8]);
    expect(steps('Counter lock wait')).toEqual([null, 0.5]);
  });
});

describe('Grafana provisioning files', () => {
  it('provisions the Prometheus datasource under the uid the panels use, at the model address', () => {
    const parsed = parse(renderGrafanaDatasources(modelOf('kubernetes'))) as { apiVersion: number; datasources: Record<string, unknown>[] };
    expect(parsed.apiVersion).toBe(1);
    expect(parsed.datasources).toEqual([
      expect.objectContaining({ uid: PROMETHEUS_DATASOURCE_UID, type: 'prometheus', url: 'http://prometheus.numbering.svc.cluster.local:9090', isDefault: true, jsonData: { timeInterval: '15s', httpMethod: 'POST' } }),
    ]);
  });

  it('points the dashboard provider at the directory, and refuses a relative one', () => {
    const parsed = parse(renderGrafanaDashboardProvider('/var/lib/grafana/dashboards/numbering')) as { providers: { type: string; options: { path: string } }[] };
    expect(parsed.providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards/numbering' } });
    expect(() => renderGrafanaDashboardProvider('dashboards')).toThrow(/dashboardsDir must be an absolute path/);
  });
});

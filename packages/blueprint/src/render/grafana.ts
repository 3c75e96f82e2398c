import type { PlatformModel } from '../model.js';

/** Dashboards as code: file name -> dashboard JSON model. */
export function grafanaDashboards(_model: PlatformModel): Record<string, unknown> {
  throw new Error('not implemented yet: grafanaDashboards');
}

/** provisioning/datasources/prometheus.yml */
export function renderGrafanaDatasources(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderGrafanaDatasources');
}

/** provisioning/dashboards/numbering.yml, pointing at `dashboardsDir`. */
export function renderGrafanaDashboardProvider(_dashboardsDir: string): string {
  throw new Error('not implemented yet: renderGrafanaDashboardProvider');
}

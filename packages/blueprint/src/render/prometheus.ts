import type { PlatformModel } from '../model.js';

/** prometheus.yml: scrape configs for every component; rule file `rules.yml` beside it. */
export function renderPrometheusConfig(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderPrometheusConfig');
}

/** rules.yml: the numbering alert rules. */
export function renderAlertRules(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderAlertRules');
}

/** rules.test.yml for `promtool test rules`: each alert fires and does not fire. */
export function renderAlertRuleTests(_model: PlatformModel): string {
  throw new Error('not implemented yet: renderAlertRuleTests');
}

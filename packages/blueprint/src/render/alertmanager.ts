import type { PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/** alertmanager.yml: routes by severity to Slack, e-mail, PagerDuty and a webhook. */
export function renderAlertmanagerConfig(_model: PlatformModel, _alerting: PlatformSecrets['alerting']): string {
  throw new Error('not implemented yet: renderAlertmanagerConfig');
}

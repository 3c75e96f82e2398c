import { stringify } from 'yaml';
import type { PlatformModel } from '../model.js';
import type { PlatformSecrets } from '../secrets.js';

/**
 * Alert routing by severity: critical pages (PagerDuty) and posts to Slack, warning goes to Slack and
 * e-mail, info to the Telegram-style webhook bridge. A receiver whose secret (or, for e-mail, whose
 * recipient) is not configured is left out together with its route; whatever is left unrouted falls
 * back to the webhook, or to a receiver that drops it when there is no webhook either.
 */

export const RECEIVER = {
  pagerduty: 'pagerduty',
  slack: 'slack',
  email: 'email',
  webhook: 'webhook',
  /** Receives and drops: the fallback when no webhook is configured, so the route tree stays valid. */
  none: 'null',
} as const;

/** Alerts with the same name and severity are grouped into one notification. */
export const ALERT_GROUP_BY = ['alertname', 'severity'];

type Alerting = PlatformSecrets['alerting'];

/** The receivers a severity is sent to, given which secrets exist (the fallback when none). */
export function severityReceivers(model: PlatformModel, alerting: Alerting): Record<'critical' | 'warning' | 'info', string[]> {
  const has = receiversAvailable(model, alerting);
  const pick = (...names: (keyof typeof has)[]) => names.filter((n) => has[n]).map((n) => RECEIVER[n]);
  return { critical: pick('pagerduty', 'slack'), warning: pick('slack', 'email'), info: pick('webhook') };
}

function receiversAvailable(model: PlatformModel, alerting: Alerting) {
  return {
    pagerduty: Boolean(alerting.pagerdutyRoutingKey),
    slack: Boolean(alerting.slackWebhookUrl),
    email: Boolean(model.monitoring.config.emailTo),
    webhook: Boolean(alerting.telegramWebhookUrl),
  };
}

export const fallbackReceiver = (alerting: Alerting) => (alerting.telegramWebhookUrl ? RECEIVER.webhook : RECEIVER.none);

const SLACK_TITLE = '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})';
const SLACK_TEXT = '{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}';

function receivers(model: PlatformModel, alerting: Alerting): Record<string, unknown>[] {
  const mon = model.monitoring.config;
  const list: Record<string, unknown>[] = [];
  if (alerting.pagerdutyRoutingKey) {
    list.push({
      name: RECEIVER.pagerduty,
      pagerduty_configs: [{ routing_key: alerting.pagerdutyRoutingKey, send_resolved: true, severity: 'critical', description: '{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}' }],
    });
  }
  if (alerting.slackWebhookUrl) {
    list.push({ name: RECEIVER.slack, slack_configs: [{ api_url: alerting.slackWebhookUrl, channel: mon.slackChannel, send_resolved: true, title: SLACK_TITLE, text: SLACK_TEXT }] });
  }
  if (mon.emailTo) {
    const auth = alerting.smtpPassword ? { auth_username: mon.emailFrom, auth_password: alerting.smtpPassword } : {};
    list.push({
      name: RECEIVER.email,
      email_configs: [
        // A password only travels over TLS; a relay without authentication (localhost:25) may have none.
        { to: mon.emailTo, from: mon.emailFrom, smarthost: mon.smarthost, require_tls: Boolean(alerting.smtpPassword), send_resolved: true, ...auth },
      ],
    });
  }
  if (alerting.telegramWebhookUrl) {
    list.push({ name: RECEIVER.webhook, webhook_configs: [{ url: alerting.telegramWebhookUrl, send_resolved: true }] });
  } else {
    list.push({ name: RECEIVER.none });
  }
  return list;
}

/** alertmanager.yml: routes by severity to Slack, e-mail, PagerDuty and a webhook. */
export function renderAlertmanagerConfig(model: PlatformModel, alerting: PlatformSecrets['alerting']): string {
  const bySeverity = severityReceivers(model, alerting);
  const timing = {
    critical: { group_wait: '10s', group_interval: '1m', repeat_interval: '1h' },
    warning: { group_wait: '30s', group_interval: '5m', repeat_interval: '4h' },
    info: { group_wait: '1m', group_interval: '10m', repeat_interval: '24h' },
  };
  const routes = (['critical', 'warning', 'info'] as const).map((severity) => ({
    matchers: [`severity="${severity}"`],
    // Used only when no child route exists: the severity's receivers are not configured.
    receiver: fallbackReceiver(alerting),
    ...timing[severity],
    // Each configured receiver gets its own child; `continue` lets one alert reach all of them.
    ...(bySeverity[severity].length ? { routes: bySeverity[severity].map((receiver) => ({ receiver, continue: true })) } : {}),
  }));
  const config = {
    global: { resolve_timeout: '5m' },
    route: { receiver: fallbackReceiver(alerting), group_by: ALERT_GROUP_BY, group_wait: '30s', group_interval: '5m', repeat_interval: '4h', routes },
    inhibit_rules: [
      // The critical alert says it all; the warning of the same alert would only repeat it.
      { source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['alertname'] },
      // Same for the two thresholds of one counter, which are two alerts.
      { source_matchers: ['alertname="SequenceCritical"'], target_matchers: ['alertname="SequenceWarning"'], equal: ['counter_key', 'template'] },
    ],
    receivers: receivers(model, alerting),
  };
  return `# Rendered by @numbering/blueprint for target ${model.target}. Contains secrets: keep it private.\n${stringify(config, { lineWidth: 0 })}`;
}

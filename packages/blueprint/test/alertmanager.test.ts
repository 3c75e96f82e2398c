import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, exampleSecrets, renderAlertmanagerConfig, severityReceivers, type PlatformSecrets } from '../src/index.js';

const modelWith = (overrides: Record<string, unknown> = {}) => buildPlatform(defaultPlatformConfig('local', overrides), { workdir: '/srv/devstack' });
const ALL: PlatformSecrets['alerting'] = { ...exampleSecrets().alerting, smtpPassword: 'smtp-pw' };

interface Route {
  receiver: string;
  matchers?: string[];
  continue?: boolean;
  group_by?: string[];
  routes?: Route[];
}
interface AmConfig {
  route: Route;
  receivers: { name: string; [k: string]: unknown }[];
  inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
}
const render = (alerting: PlatformSecrets['alerting'], overrides: Record<string, unknown> = {}) => parse(renderAlertmanagerConfig(modelWith(overrides), alerting)) as AmConfig;
const routeFor = (config: AmConfig, severity: string) => config.route.routes!.find((r) => r.matchers?.[0] === `severity="${severity}"`)!;

describe('renderAlertmanagerConfig', () => {
  it('routes critical to PagerDuty and Slack, warning to Slack and e-mail, info to the webhook', () => {
    const config = render(ALL, { 'monitoring.emailTo': 'ops@example.com' });
    expect(config.route.group_by).toEqual(['alertname', 'severity']);
    expect(routeFor(config, 'critical').routes!.map((r) => r.receiver)).toEqual(['pagerduty', 'slack']);
    expect(routeFor(config, 'warning').routes!.map((r) => r.receiver)).toEqual(['slack', 'email']);
    expect(routeFor(config, 'info').routes!.map((r) => r.receiver)).toEqual(['webhook']);
    for (const r of config.route.routes!.flatMap((p) => p.routes ?? [])) expect(r.continue).toBe(true);
    expect(config.receivers.map((r) => r.name).sort()).toEqual(['email', 'pagerduty', 'slack', 'webhook']);
  });

  it('leaves out every receiver without its secret and still has a default', () => {
    const config = render({});
    expect(config.receivers).toEqual([{ name: 'null' }]);
    expect(config.route.receiver).toBe('null');
    for (const r of config.route.routes!) {
      expect(r.routes).toBeUndefined();
      expect(r.receiver).toBe('null');
    }
    expect(renderAlertmanagerConfig(modelWith(), {})).not.toMatch(/slack_configs|pagerduty_configs|email_configs|webhook_configs/);
  });

  it('falls back to the webhook when it is the only receiver (the devstack)', () => {
    const config = render({ telegramWebhookUrl: 'http://127.0.0.1:9095/alert' });
    expect(config.route.receiver).toBe('webhook');
    expect(routeFor(config, 'critical').receiver).toBe('webhook');
    expect(severityReceivers(modelWith(), { telegramWebhookUrl: 'http://x' })).toEqual({ critical: [], warning: [], info: ['webhook'] });
  });

  it('needs a recipient for e-mail and authenticates only with a password, over TLS', () => {
    expect(render(ALL).receivers.map((r) => r.name)).not.toContain('email');
    const withPassword = render(ALL, { 'monitoring.emailTo': 'ops@example.com' }).receivers.find((r) => r.name === 'email')!;
    expect(withPassword.email_configs).toEqual([expect.objectContaining({ to: 'ops@example.com', auth_password: 'smtp-pw', require_tls: true })]);
    const relay = render({ slackWebhookUrl: 'https://hooks.slack.example/x' }, { 'monitoring.emailTo': 'ops@example.com' }).receivers.find((r) => r.name === 'email')!;
    expect(relay.email_configs).toEqual([expect.not.objectContaining({ auth_password: expect.anything() })]);
  });

  it('lets a critical alert silence the warning of the same alert and SequenceCritical silence SequenceWarning', () => {
    expect(render(ALL).inhibit_rules).toEqual([
      { source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['alertname'] },
      { source_matchers: ['alertname="SequenceCritical"'], target_matchers: ['alertname="SequenceWarning"'], equal: ['counter_key', 'template'] },
    ]);
  });
});

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, endpointString, exampleSecrets, renderAlertmanagerConfig, type PlatformSecrets } from '../src/index.js';
import { createTestbed, output, run, scratch, startDaemon, waitFor, writeFiles, type DaemonProcess } from './support/tools.js';

const dirs = scratch('alertmanager');
afterAll(() => dirs.cleanup());

const model = buildPlatform(defaultPlatformConfig('local', { 'monitoring.emailTo': 'ops@example.com' }), { workdir: '/srv/devstack' });
const example = exampleSecrets().alerting;

/** Which receivers each severity reaches, per set of configured secrets (the fallback when none). */
const CASES: { name: string; alerting: PlatformSecrets['alerting']; critical: string; warning: string; info: string; unknown: string }[] = [
  { name: 'all secrets', alerting: { ...example, smtpPassword: 'smtp-pw' }, critical: 'pagerduty,slack', warning: 'slack,email', info: 'webhook', unknown: 'webhook' },
  { name: 'no secrets', alerting: {}, critical: 'null', warning: 'email', info: 'null', unknown: 'null' },
  { name: 'only the webhook (devstack)', alerting: { telegramWebhookUrl: example.telegramWebhookUrl }, critical: 'webhook', warning: 'email', info: 'webhook', unknown: 'webhook' },
  { name: 'PagerDuty without Slack', alerting: { pagerdutyRoutingKey: example.pagerdutyRoutingKey }, critical: 'pagerduty', warning: 'email', info: 'null', unknown: 'null' },
  { name: 'Slack only', alerting: { slackWebhookUrl: example.slackWebhookUrl }, critical: 'slack', warning: 'slack,email', info: 'null', unknown: 'null' },
];

const writeConfig = (alerting: PlatformSecrets['alerting'], text = renderAlertmanagerConfig(model, alerting)) => {
  const dir = dirs.dir();
  writeFiles(dir, { 'alertmanager.yml': text });
  return join(dir, 'alertmanager.yml');
};

describe('amtool accepts the rendered config and routes by severity', () => {
  for (const c of CASES) {
    it(`${c.name}: check-config passes and routes test names the expected receivers`, async () => {
      const file = writeConfig(c.alerting);
      const check = await run('amtool', ['check-config', file]);
      expect(check.code, output(check)).toBe(0);
      expect(check.stdout).toContain('SUCCESS');
      for (const [labels, expected] of [
        [['severity=critical', 'alertname=ServiceDown'], c.critical],
        [['severity=warning', 'alertname=SequenceWarning'], c.warning],
        [['severity=info', 'alertname=Something'], c.info],
        [['alertname=NoSeverity'], c.unknown],
      ] as const) {
        const r = await run('amtool', ['config', 'routes', 'test', `--config.file=${file}`, ...labels]);
        expect(r.code, output(r)).toBe(0);
        expect(r.stdout.trim(), labels.join(' ')).toBe(expected);
      }
    });
  }

  it('check-config fails on a route to a receiver that does not exist (the check can fail)', async () => {
    const rendered = renderAlertmanagerConfig(model, {});
    const broken = rendered.replace('  receiver: "null"', '  receiver: pagerduty');
    expect(broken).not.toBe(rendered);
    const file = writeConfig({}, broken);
    const r = await run('amtool', ['check-config', file]);
    expect(r.code, output(r)).not.toBe(0);
  });
});

interface ApiAlert {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[] };
}

describe('a running Alertmanager applies the inhibit rules', () => {
  let am: DaemonProcess | undefined;
  let workdir = '';
  afterAll(async () => {
    await am?.stop('SIGTERM', 5_000);
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it('SequenceCritical silences SequenceWarning of the same counter, not of another', async () => {
    const bed = await createTestbed();
    workdir = bed.workdir;
    const m = bed.model.monitoring;
    writeFiles(workdir, { 'alertmanager/alertmanager.yml': renderAlertmanagerConfig(bed.model, bed.secrets.alerting) });
    am = startDaemon({
      name: 'alertmanager',
      command: 'prometheus-alertmanager',
      args: [`--config.file=${join(workdir, 'alertmanager/alertmanager.yml')}`, `--storage.path=${m.alertmanager.dataDir}`, `--web.listen-address=${endpointString(m.alertmanager)}`, '--cluster.listen-address='],
      logFile: join(workdir, 'logs', 'alertmanager.log'),
    });
    const api = `http://${endpointString(m.alertmanager)}/api/v2`;
    await waitFor('alertmanager ready', async () => (await fetch(`http://${endpointString(m.alertmanager)}/-/ready`)).ok, { timeoutMs: 20_000, logFile: am.logFile });

    const alert = (alertname: string, severity: string, counter: string) => ({ labels: { alertname, severity, counter_key: counter, template: 'invoice' }, annotations: { summary: alertname } });
    const posted = await fetch(`${api}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([alert('SequenceCritical', 'critical', 'INV-2025'), alert('SequenceWarning', 'warning', 'INV-2025'), alert('SequenceWarning', 'warning', 'CRN-2025')]),
    });
    expect(posted.status).toBe(200);

    const state = async () => {
      const alerts = (await (await fetch(`${api}/alerts`)).json()) as ApiAlert[];
      return Object.fromEntries(alerts.map((a) => [`${a.labels.alertname}/${a.labels.counter_key}`, a.status.state]));
    };
    await waitFor('three alerts, one inhibited', async () => Object.keys(await state()).length === 3 && Object.values(await state()).includes('suppressed'), { timeoutMs: 10_000 });
    expect(await state()).toEqual({ 'SequenceCritical/INV-2025': 'active', 'SequenceWarning/INV-2025': 'suppressed', 'SequenceWarning/CRN-2025': 'active' });
  });
});

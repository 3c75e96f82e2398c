import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { endpointString, renderAlertmanagerConfig, renderAlertRules, renderMysqldExporterCnf, renderPrometheusConfig } from '@numbering/blueprint';
import { waitFor } from '../process.js';
import { httpJson, httpOk } from './http.js';
import type { Component, StackContext } from './types.js';

const amDir = (ctx: StackContext) => join(ctx.workdir, 'alertmanager');
const exporterDir = (ctx: StackContext) => join(ctx.workdir, 'exporters');
export const alertsFile = (ctx: StackContext) => join(ctx.workdir, 'alerts', 'alerts.jsonl');
const url = (e: { host: string; port: number }, path: string) => `http://${endpointString(e)}${path}`;

interface TargetsResponse {
  data: { activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }[] };
}

export async function prometheusTargets(ctx: StackContext) {
  return (await httpJson<TargetsResponse>(url(ctx.model.monitoring.prometheus, '/api/v1/targets'))).data.activeTargets;
}

export const monitoringComponent: Component = {
  name: 'monitoring',
  async prepare(ctx) {
    const m = ctx.model.monitoring;
    mkdirSync(m.prometheus.dataDir, { recursive: true });
    mkdirSync(m.alertmanager.dataDir, { recursive: true });
    mkdirSync(join(ctx.workdir, 'alerts'), { recursive: true });
    mkdirSync(exporterDir(ctx), { recursive: true });
    writeFileSync(join(m.prometheus.configDir, 'prometheus.yml'), renderPrometheusConfig(ctx.model));
    writeFileSync(join(m.prometheus.configDir, 'rules.yml'), renderAlertRules(ctx.model));
    writeFileSync(join(amDir(ctx), 'alertmanager.yml'), renderAlertmanagerConfig(ctx.model, ctx.secrets.alerting), { mode: 0o600 });
    writeFileSync(join(exporterDir(ctx), 'mysqld-exporter.cnf'), renderMysqldExporterCnf(ctx.model, ctx.secrets), { mode: 0o600 });
  },
  programs(ctx) {
    const m = ctx.model.monitoring;
    const log = (name: string) => join(ctx.workdir, 'logs', `${name}.out`);
    const firstRedis = ctx.model.redis.nodes[0]!;
    return [
      {
        name: 'alert-webhook', group: 'monitoring', command: process.execPath, cwd: ctx.repoRoot,
        args: ['--import', 'tsx', join(ctx.repoRoot, 'packages/devstack/src/webhook-receiver.ts'), m.webhook.host, String(m.webhook.port), alertsFile(ctx)],
        logFile: log('alert-webhook'),
      },
      {
        name: 'alertmanager', group: 'monitoring', command: 'prometheus-alertmanager',
        args: [`--config.file=${join(amDir(ctx), 'alertmanager.yml')}`, `--storage.path=${m.alertmanager.dataDir}`, `--web.listen-address=${endpointString(m.alertmanager)}`,
          // Its gossip listener defaults to 0.0.0.0:9094; a single local instance needs none.
          '--cluster.listen-address='],
        logFile: log('alertmanager'),
      },
      {
        name: 'prometheus', group: 'monitoring', command: 'prometheus',
        args: [`--config.file=${join(m.prometheus.configDir, 'prometheus.yml')}`, `--storage.tsdb.path=${m.prometheus.dataDir}`, `--web.listen-address=${endpointString(m.prometheus)}`, '--web.enable-lifecycle', `--storage.tsdb.retention.time=${m.config.retention}`],
        logFile: log('prometheus'),
      },
      {
        name: 'redis-exporter', group: 'monitoring', command: 'prometheus-redis-exporter',
        args: [`-redis.addr=redis://${endpointString(firstRedis)}`, `-web.listen-address=${endpointString(ctx.model.redis.exporter)}`, '-set-client-name=false', // CONFIG GET would reveal masterauth; the exporter user may not run it.
          '-config-command=-'],
        // Passwords go through the environment, not argv, so `ps` does not show them.
        env: { REDIS_USER: 'exporter', REDIS_PASSWORD: ctx.secrets.redis.exporter },
        logFile: log('redis-exporter'),
      },
      {
        name: 'mysqld-exporter', group: 'monitoring', command: 'prometheus-mysqld-exporter',
        args: [`--config.my-cnf=${join(exporterDir(ctx), 'mysqld-exporter.cnf')}`, `--web.listen-address=${endpointString(ctx.model.mariadb.exporter)}`],
        logFile: log('mysqld-exporter'),
      },
    ];
  },
  async waitReady(ctx) {
    const m = ctx.model.monitoring;
    await waitFor('prometheus /-/ready', () => httpOk(url(m.prometheus, '/-/ready')), { timeoutMs: 30_000 });
    await waitFor('alertmanager /-/ready', () => httpOk(url(m.alertmanager, '/-/ready')), { timeoutMs: 30_000 });
    await waitFor('alert webhook receiver', () => httpOk(url(m.webhook, '/healthz')), { timeoutMs: 30_000 });
  },
  async health(ctx) {
    const m = ctx.model.monitoring;
    const lines = [
      { name: 'prometheus', ok: await httpOk(url(m.prometheus, '/-/ready')), detail: endpointString(m.prometheus) },
      { name: 'alertmanager', ok: await httpOk(url(m.alertmanager, '/-/ready')), detail: endpointString(m.alertmanager) },
      { name: 'alert-webhook', ok: await httpOk(url(m.webhook, '/healthz')), detail: endpointString(m.webhook) },
    ];
    try {
      const targets = await prometheusTargets(ctx);
      const down = targets.filter((t) => t.health !== 'up');
      // Right after a start Prometheus has not loaded its targets yet: none is not healthy.
      lines.push({ name: 'scrape targets', ok: targets.length > 0 && down.length === 0, detail: `${targets.length - down.length}/${targets.length} up${down.length ? `; down: ${down.map((t) => `${t.labels.job}@${t.labels.instance}`).join(', ')}` : ''}` });
    } catch (e) {
      lines.push({ name: 'scrape targets', ok: false, detail: (e as Error).message });
    }
    return lines;
  },
};

import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { PlatformModel } from '@numbering/blueprint';
import { REDIS_CLUSTER_INIT_NAME } from '../shared/redis-cluster-init.js';
import { metadata, selectorLabels } from './common.js';
import { opsClientsOf } from './ops.js';
import { PGBACKREST_BACKUP_NAME, PGBACKREST_REPO_NAME } from './pgbackrest.js';

export interface KubernetesNamespaceArgs {
  model: PlatformModel;
}

/** Pods that may use PostgreSQL through PgBouncer carry this label (nothing in the platform does yet). */
export const POSTGRES_CLIENT_LABEL = { 'numbering.io/postgres-client': 'true' } as const;

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type Port = k8s.types.input.networking.v1.NetworkPolicyPort;

const pods = (...names: string[]): Peer[] => names.map((name) => ({ podSelector: { matchLabels: selectorLabels(name) } }));
const tcp = (...ports: number[]): Port[] => ports.map((port) => ({ protocol: 'TCP', port }));
const ANYWHERE: Peer[] = [{ ipBlock: { cidr: '0.0.0.0/0' } }];

/** One allowed inbound flow: these peers may reach the selected pods on these ports. */
export interface Flow {
  to: Record<string, string>;
  from: Peer[];
  ports: Port[];
}

/**
 * Every flow the platform needs, derived from the model's ports. Everything else is denied by the
 * default policies: the namespace is deny-all in both directions, then these are opened.
 */
export function platformFlows(model: PlatformModel): { name: string; flow: Flow }[] {
  const redis = model.redis.nodes[0]!;
  const pg = model.postgres;
  const member = pg.members[0]!;
  const mon = model.monitoring;
  const service = model.service.releases[0];
  return [
    { name: 'redis-clients', flow: { to: selectorLabels('redis'), from: pods('redis', 'numbering', 'redis-exporter', REDIS_CLUSTER_INIT_NAME, ...opsClientsOf(model.config, 'redis')), ports: tcp(redis.port) } },
    { name: 'redis-cluster-bus', flow: { to: selectorLabels('redis'), from: pods('redis'), ports: tcp(redis.busPort) } },
    { name: 'mariadb-clients', flow: { to: selectorLabels('mariadb'), from: pods('numbering', 'numbering-migrate', 'mysqld-exporter', ...opsClientsOf(model.config, 'mariadb')), ports: tcp(model.mariadb.port) } },
    { name: 'patroni-peers', flow: { to: selectorLabels('postgres'), from: pods('postgres', 'haproxy'), ports: tcp(member.pgPort, member.restPort) } },
    // pgBackRest over mutual TLS, only between the members and the repository host: archive-push from the
    // primary to the repository host, and the repository host's backups reading each member.
    { name: 'pgbackrest-repo', flow: { to: selectorLabels(PGBACKREST_REPO_NAME), from: pods('postgres'), ports: tcp(pg.pgbackrest.tlsPort) } },
    { name: 'patroni-pgbackrest', flow: { to: selectorLabels('postgres'), from: pods(PGBACKREST_REPO_NAME), ports: tcp(pg.pgbackrest.tlsPort) } },
    { name: 'patroni-metrics', flow: { to: selectorLabels('postgres'), from: pods('prometheus'), ports: tcp(member.restPort) } },
    // The stats page and HAProxy's own /metrics (for Prometheus, and operators through the Service).
    { name: 'haproxy-stats', flow: { to: selectorLabels('haproxy'), from: pods('prometheus'), ports: tcp(pg.haproxy.statsPort) } },
    { name: 'haproxy-clients', flow: { to: selectorLabels('haproxy'), from: pods('pgbouncer', 'postgres-backup'), ports: tcp(pg.haproxy.primaryPort, pg.haproxy.replicaPort) } },
    { name: 'pgbouncer-clients', flow: { to: selectorLabels('pgbouncer'), from: [{ podSelector: { matchLabels: { ...POSTGRES_CLIENT_LABEL } } }], ports: tcp(pg.pgbouncer.port) } },
    { name: 'numbering-upstream', flow: { to: selectorLabels('numbering'), from: pods('nginx', 'prometheus'), ports: tcp(service.port) } },
    // The entry points: the canary split and Grafana (an Ingress or a LoadBalancer in front of them is the cluster's choice).
    { name: 'nginx-entry', flow: { to: selectorLabels('nginx'), from: ANYWHERE, ports: tcp(model.canary.listen.port) } },
    { name: 'grafana-entry', flow: { to: selectorLabels('grafana'), from: ANYWHERE, ports: tcp(mon.grafana.port) } },
    // Prometheus scrapes itself through its Service, which is traffic from its own pod.
    { name: 'prometheus-clients', flow: { to: selectorLabels('prometheus'), from: pods('grafana', 'prometheus'), ports: tcp(mon.prometheus.port) } },
    { name: 'alertmanager-clients', flow: { to: selectorLabels('alertmanager'), from: pods('prometheus'), ports: tcp(mon.alertmanager.port) } },
    { name: 'redis-exporter-scrape', flow: { to: selectorLabels('redis-exporter'), from: pods('prometheus'), ports: tcp(model.redis.exporter.port) } },
    { name: 'mysqld-exporter-scrape', flow: { to: selectorLabels('mysqld-exporter'), from: pods('prometheus'), ports: tcp(model.mariadb.exporter.port) } },
  ];
}

/** Outbound flows beyond the namespace and DNS: the Kubernetes API (Patroni's DCS, Prometheus' discovery) and the alert receivers. */
export function externalEgress(): { name: string; pods: Record<string, string>; ports: Port[] }[] {
  return [
    { name: 'postgres-kubernetes-api', pods: selectorLabels('postgres'), ports: tcp(443, 6443) },
    // The pgBackRest jobs `kubectl exec` into the repository host through the API server.
    { name: 'pgbackrest-jobs-kubernetes-api', pods: selectorLabels(PGBACKREST_BACKUP_NAME), ports: tcp(443, 6443) },
    { name: 'prometheus-kubernetes-api', pods: selectorLabels('prometheus'), ports: tcp(443, 6443) },
    // Slack, PagerDuty and webhooks over HTTPS; e-mail over SMTP (submission, SMTPS, relay).
    { name: 'alertmanager-receivers', pods: selectorLabels('alertmanager'), ports: tcp(443, 25, 465, 587) },
  ];
}

/**
 * The platform namespace, enforcing the `restricted` Pod Security Standard (every pod here runs
 * non-root, without privilege escalation or capabilities), and its NetworkPolicies.
 */
export class KubernetesNamespace extends pulumi.ComponentResource {
  readonly namespace: k8s.core.v1.Namespace;
  /** The namespace name as an output: using it makes a resource wait for the namespace. */
  readonly name: pulumi.Output<string>;
  readonly policies: k8s.networking.v1.NetworkPolicy[] = [];

  constructor(name: string, args: KubernetesNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('numbering:kubernetes:Namespace', name, {}, opts);
    const { model } = args;
    const nsName = model.namespace;
    this.namespace = new k8s.core.v1.Namespace(
      'namespace',
      {
        metadata: {
          name: nsName,
          labels: {
            'app.kubernetes.io/part-of': 'numbering',
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
            'pod-security.kubernetes.io/warn': 'restricted',
          },
        },
      },
      { parent: this },
    );
    this.name = this.namespace.metadata.name;
    const ns = this.name;
    const policy = (policyName: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec) => {
      const p = new k8s.networking.v1.NetworkPolicy(policyName, { metadata: metadata(policyName, 'network', ns), spec }, { parent: this });
      this.policies.push(p);
      return p;
    };

    policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    policy('allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }],
    });
    policy('allow-egress-in-namespace', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }] }] });
    for (const { name: flowName, flow } of platformFlows(model)) {
      policy(`allow-${flowName}`, { podSelector: { matchLabels: flow.to }, policyTypes: ['Ingress'], ingress: [{ from: flow.from, ports: flow.ports }] });
    }
    for (const e of externalEgress()) {
      policy(`allow-${e.name}`, { podSelector: { matchLabels: e.pods }, policyTypes: ['Egress'], egress: [{ to: ANYWHERE, ports: e.ports }] });
    }
    this.registerOutputs({ name: this.name });
  }
}

import { PATRONI_REST_USER, type PatroniMember } from '@numbering/blueprint';
import { OpsError, type OpsContext } from './context.js';

/**
 * Patroni's REST API as `ops pg` uses it: GET /cluster and /config from any member that answers
 * (every member serves the whole cluster's view from the DCS), POST /switchover and /failover with
 * basic auth (the blueprint guards unsafe endpoints with user `patroni` and the superuser password).
 * The checks that decide whether a switchover or failover is sensible are pure functions.
 */

export interface PatroniClusterMember {
  name: string;
  /** `leader`, `replica`, `sync_standby`, `standby_leader` (Patroni 3.0: leader/replica/sync_standby). */
  role: string;
  /** `running`, `streaming` (Patroni ≥ 3.0.4 for replicas), `stopped`, `starting`, `crashed`, `creating replica`, … */
  state: string;
  api_url?: string;
  host?: string;
  port?: number;
  timeline?: number;
  /** Bytes behind the leader; `unknown` when Patroni cannot tell. */
  lag?: number | string;
  tags?: Record<string, unknown>;
  pending_restart?: boolean;
}

export interface PatroniCluster {
  members: PatroniClusterMember[];
  pause?: boolean;
  scheduled_switchover?: { at: string; from: string; to?: string };
}

export interface PatroniDynamicConfig {
  synchronous_mode?: boolean;
  maximum_lag_on_failover?: number;
  ttl?: number;
  loop_wait?: number;
}

export const restBase = (m: PatroniMember) => `http://${m.host}:${m.restPort}`;

const isLeader = (m: PatroniClusterMember) => m.role === 'leader' || m.role === 'master' || m.role === 'primary' || m.role === 'standby_leader';
const isHealthyState = (m: PatroniClusterMember) => m.state === 'running' || m.state === 'streaming';

async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

const describeFetchError = (e: unknown) => {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.name === 'TimeoutError' ? 'no answer in time' : (err.cause?.code ?? err.cause?.message ?? err.message);
};

/** GET /cluster from the first member that answers, in model order; the error lists every member's failure. */
export async function fetchCluster(ctx: OpsContext, timeoutMs = 3000): Promise<{ cluster: PatroniCluster; config: PatroniDynamicConfig; via: PatroniMember }> {
  const errors: string[] = [];
  for (const member of ctx.model.postgres.members) {
    try {
      const cluster = await getJson<PatroniCluster>(`${restBase(member)}/cluster`, timeoutMs);
      const config = await getJson<PatroniDynamicConfig>(`${restBase(member)}/config`, timeoutMs).catch(() => ({}));
      return { cluster, config, via: member };
    } catch (e) {
      errors.push(`${member.name} ${restBase(member)}: ${describeFetchError(e)}`);
    }
  }
  throw new OpsError(`no Patroni member answered GET /cluster (${ctx.description}): ${errors.join('; ')}`);
}

/** POST to the REST API with the configured basic auth; 401 becomes an error that says which credential to check. */
export async function postPatroni(ctx: OpsContext, member: PatroniMember, path: string, body: unknown, timeoutMs = 60_000): Promise<{ status: number; text: string }> {
  const auth = Buffer.from(`${PATRONI_REST_USER}:${ctx.secret('postgres.superuser')}`).toString('base64');
  let res: Response;
  try {
    res = await fetch(`${restBase(member)}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${auth}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new OpsError(`POST ${restBase(member)}${path}: ${describeFetchError(e)}`);
  }
  const text = (await res.text()).trim();
  if (res.status === 401 || res.status === 403) {
    throw new OpsError(`Patroni refused the REST credentials (HTTP ${res.status} from ${member.name}): the unsafe endpoints need user ${PATRONI_REST_USER} with the postgres.superuser password (restapi.authentication)`);
  }
  return { status: res.status, text };
}

export interface ClusterReport {
  leader?: string;
  lines: string[];
  problems: string[];
}

const formatLag = (lag: PatroniClusterMember['lag']) => (lag === undefined ? '-' : typeof lag === 'number' ? (lag < 1024 * 1024 ? `${lag} B` : `${(lag / 1024 / 1024).toFixed(1)} MiB`) : String(lag));

/** `ops pg status`: one line per member and what is wrong, judged against the model's member list. */
export function reportCluster(cluster: PatroniCluster, config: PatroniDynamicConfig, expected: readonly string[], via: string): ClusterReport {
  const problems: string[] = [];
  const leaders = cluster.members.filter(isLeader);
  const leader = leaders.length === 1 ? leaders[0] : undefined;
  if (leaders.length === 0) problems.push('the cluster has no leader');
  if (leaders.length > 1) problems.push(`${leaders.length} members claim to lead: ${leaders.map((m) => m.name).join(', ')}`);
  for (const name of expected) if (!cluster.members.some((m) => m.name === name)) problems.push(`${name} is not in the cluster (Patroni not running or not registered in the DCS)`);
  for (const m of cluster.members) {
    if (!isHealthyState(m)) problems.push(`${m.name} is ${m.state}`);
    if (leader && m !== leader && m.timeline !== undefined && leader.timeline !== undefined && m.timeline !== leader.timeline) problems.push(`${m.name} is on timeline ${m.timeline}, the leader on ${leader.timeline}`);
    if (leader && m !== leader && typeof m.lag === 'number' && config.maximum_lag_on_failover !== undefined && m.lag > config.maximum_lag_on_failover) {
      problems.push(`${m.name} lags ${formatLag(m.lag)} behind, more than maximum_lag_on_failover (${formatLag(config.maximum_lag_on_failover)}): it cannot be promoted`);
    }
    if (m.lag === 'unknown') problems.push(`${m.name}: replication lag unknown (not streaming?)`);
    if (m.pending_restart) problems.push(`${m.name} has settings waiting for a restart`);
  }
  if (config.synchronous_mode && leader && !cluster.members.some((m) => m.role === 'sync_standby')) problems.push('synchronous_mode is on but no member is a synchronous standby: commits wait');
  if (cluster.pause) problems.push('the cluster is paused (maintenance mode): Patroni will not fail over');

  const table = [
    ['member', 'host:port', 'role', 'state', 'TL', 'lag'],
    ...cluster.members.map((m) => [m.name, m.host && m.port ? `${m.host}:${m.port}` : '-', m.role, m.state, m.timeline === undefined ? '-' : String(m.timeline), isLeader(m) ? '-' : formatLag(m.lag)]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const lines = [
    `Patroni cluster via ${via}: synchronous_mode ${config.synchronous_mode ? 'on' : 'off'}${config.maximum_lag_on_failover !== undefined ? `, maximum_lag_on_failover ${formatLag(config.maximum_lag_on_failover)}` : ''}`,
    ...table.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()),
    ...(cluster.scheduled_switchover ? [`scheduled switchover at ${cluster.scheduled_switchover.at} from ${cluster.scheduled_switchover.from}${cluster.scheduled_switchover.to ? ` to ${cluster.scheduled_switchover.to}` : ''}`] : []),
  ];
  if (problems.length === 0) lines.push(`ok: leader ${leader!.name}, ${cluster.members.length - 1} replica(s) running`);
  else lines.push(`NOT OK: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, ...problems.map((p) => `  - ${p}`));
  return { ...(leader ? { leader: leader.name } : {}), lines, problems };
}

/** Why `candidate` cannot take over, or undefined when it can. */
function candidateProblem(cluster: PatroniCluster, config: PatroniDynamicConfig, candidate: string, action: 'switchover' | 'failover'): string | undefined {
  const member = cluster.members.find((m) => m.name === candidate);
  if (!member) return `no such member ${candidate} (members: ${cluster.members.map((m) => m.name).join(', ')})`;
  if (isLeader(member)) return `${candidate} is already the leader`;
  if (!isHealthyState(member)) return `${candidate} is not a healthy replica: it is ${member.state}`;
  if (member.tags?.nofailover === true) return `${candidate} is tagged nofailover`;
  if (member.lag === 'unknown') return `${candidate} is not a healthy replica: its replication lag is unknown`;
  if (typeof member.lag === 'number' && config.maximum_lag_on_failover !== undefined && member.lag > config.maximum_lag_on_failover) {
    return `${candidate} lags ${formatLag(member.lag)} behind, more than maximum_lag_on_failover (${formatLag(config.maximum_lag_on_failover)})`;
  }
  // Promoting an asynchronous replica in synchronous mode could drop acknowledged commits; Patroni refuses the switchover itself.
  if (config.synchronous_mode && member.role !== 'sync_standby') {
    const sync = cluster.members.filter((m) => m.role === 'sync_standby').map((m) => m.name);
    return `synchronous_mode is on and ${candidate} is not a synchronous standby; a ${action} may only go to ${sync.length ? sync.join(' or ') : 'a synchronous standby (there is none right now)'}`;
  }
  return undefined;
}

export interface TakeoverPlan {
  action: 'switchover' | 'failover';
  leader?: string;
  candidate?: string;
  body: { leader?: string; candidate?: string };
}

/** `ops pg switchover [--to MEMBER]`: a planned handover needs a leader; without --to Patroni picks the best replica. */
export function planSwitchover(cluster: PatroniCluster, config: PatroniDynamicConfig, to?: string): TakeoverPlan {
  const leader = cluster.members.find(isLeader);
  if (!leader) throw new OpsError('the cluster has no leader: a switchover needs one; use `ops pg failover --to MEMBER`');
  if (to !== undefined) {
    const problem = candidateProblem(cluster, config, to, 'switchover');
    if (problem) throw new OpsError(problem);
  } else if (!cluster.members.some((m) => !isLeader(m) && candidateProblem(cluster, config, m.name, 'switchover') === undefined)) {
    throw new OpsError(`no replica can take over from ${leader.name}: ${cluster.members.filter((m) => !isLeader(m)).map((m) => candidateProblem(cluster, config, m.name, 'switchover')).join('; ') || 'there are no replicas'}`);
  }
  return { action: 'switchover', leader: leader.name, ...(to ? { candidate: to } : {}), body: { leader: leader.name, ...(to ? { candidate: to } : {}) } };
}

/** `ops pg failover --to MEMBER`: works with or without a leader (that is its point), always to a named member. */
export function planFailover(cluster: PatroniCluster, config: PatroniDynamicConfig, to: string): TakeoverPlan {
  const problem = candidateProblem(cluster, config, to, 'failover');
  if (problem) throw new OpsError(problem);
  const leader = cluster.members.find(isLeader);
  return { action: 'failover', ...(leader ? { leader: leader.name } : {}), candidate: to, body: { candidate: to } };
}

export { isLeader as isPatroniLeader, isHealthyState as isPatroniHealthy };

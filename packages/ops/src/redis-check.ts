import type { RedisNode } from '@numbering/blueprint';
import { parseClusterNodes } from '@numbering/devstack';
import { CLUSTER_SLOTS, humanBytes, modelNodeOf, nodeAddress, parseInfo, slotRanges, slotsOf, type ClusterNodesEntry } from './redis.js';

/**
 * `ops redis check` as a pure function: what each node answered (or the error it gave) in, a table
 * row per node and the list of problems out. Kept apart from the I/O so every verdict is unit-tested.
 */

export type NodeObservation =
  | { node: RedisNode; reachable: true; clusterInfo: string; clusterNodes: string; info: string }
  | { node: RedisNode; reachable: false; error: string };

export interface NodeRow {
  name: string;
  address: string;
  /** `master`, `replica`, or `unreachable` (then `viewRole` says what the others think). */
  role: 'master' | 'replica' | 'unreachable';
  /** The role the cluster view gives an unreachable node, with its flags (`master,fail`). */
  viewRole?: string;
  /** The master a replica follows (model node name, or the node id when it is not in the model). */
  follows?: string;
  /** master_link_status of a replica. */
  link?: string;
  slots: string;
  slotCount: number;
  usedMemory?: number;
  maxmemory?: number;
}

export interface ClusterAssessment {
  /** cluster_state as the reachable nodes report it (`ok` only if all say ok). */
  state: string;
  /** The node whose CLUSTER NODES the slot map and roles of unreachable nodes come from. */
  seenFrom?: string;
  coveredSlots: number;
  rows: NodeRow[];
  problems: string[];
}

/** A node at or above this share of maxmemory is reported: with `noeviction` it refuses writes when full. */
export const MEMORY_WARN_RATIO = 0.9;

const isFailed = (e: ClusterNodesEntry) => e.flags.includes('fail') || e.flags.includes('fail?') || e.flags.includes('noaddr');

export function assessCluster(observations: readonly NodeObservation[], expect: { replicasPerMaster: number }): ClusterAssessment {
  const nodes = observations.map((o) => o.node);
  const problems: string[] = [];
  const reachable = observations.filter((o): o is Extract<NodeObservation, { reachable: true }> => o.reachable);
  for (const o of observations) if (!o.reachable) problems.push(`${o.node.name} (${nodeAddress(o.node)}) is unreachable: ${o.error}`);
  if (reachable.length === 0) {
    return { state: 'unknown', coveredSlots: 0, rows: observations.map((o) => ({ name: o.node.name, address: nodeAddress(o.node), role: 'unreachable', slots: '', slotCount: 0 })), problems };
  }

  const states = new Map(reachable.map((o) => [o.node.name, parseInfo(o.clusterInfo).get('cluster_state') ?? 'unknown']));
  for (const [name, state] of states) if (state !== 'ok') problems.push(`${name} reports cluster_state:${state}`);
  const state = [...states.values()].every((s) => s === 'ok') ? 'ok' : [...new Set([...states.values()].filter((s) => s !== 'ok'))].join('/');

  // The slot map and everybody's role as one reachable node sees them; prefer a master's view (it owns slots, so it is current).
  const infos = new Map(reachable.map((o) => [o.node.name, parseInfo(o.info)]));
  const reference = reachable.find((o) => infos.get(o.node.name)?.get('role') === 'master') ?? reachable[0]!;
  const view = parseClusterNodes(reference.clusterNodes);
  const nameOf = (e: ClusterNodesEntry) => modelNodeOf(nodes, e)?.name ?? `node ${e.id.slice(0, 8)} at port ${e.port}`;
  const byId = new Map(view.map((e) => [e.id, e]));
  const entryOf = (node: RedisNode) => view.find((e) => modelNodeOf(nodes, e)?.name === node.name);
  for (const e of view) {
    if (!modelNodeOf(nodes, e)) problems.push(`${reference.node.name} knows a node that is not in the platform model: ${e.id.slice(0, 8)} port ${e.port} (${e.flags.join(',')})`);
  }

  const liveMasters = view.filter((e) => e.flags.includes('master') && !isFailed(e));
  const covered = new Set(liveMasters.flatMap((e) => slotsOf(e.slots)));
  if (covered.size < CLUSTER_SLOTS) {
    const missing = Array.from({ length: CLUSTER_SLOTS }, (_, s) => s).filter((s) => !covered.has(s));
    problems.push(`${missing.length} of ${CLUSTER_SLOTS} slots are not served by a live master: ${abbreviate(slotRanges(missing))}`);
  }

  for (const e of view) {
    if (isFailed(e) && modelNodeOf(nodes, e)) problems.push(`${reference.node.name} marks ${nameOf(e)} as ${e.flags.filter((f) => f === 'fail' || f === 'fail?' || f === 'noaddr').join(',')}`);
  }

  for (const master of liveMasters.filter((e) => e.slots.some((s) => !s.startsWith('[')))) {
    const replicas = view.filter((e) => e.masterId === master.id && !isFailed(e));
    if (replicas.length === 0) problems.push(`master ${nameOf(master)} (slots ${abbreviate(slotRanges(slotsOf(master.slots)))}) has no live replica`);
    else if (replicas.length < expect.replicasPerMaster) problems.push(`master ${nameOf(master)} has ${replicas.length} of ${expect.replicasPerMaster} replicas`);
  }

  const rows: NodeRow[] = observations.map((o) => {
    const entry = entryOf(o.node);
    const slots = entry && entry.flags.includes('master') ? slotsOf(entry.slots) : [];
    const base = { name: o.node.name, address: nodeAddress(o.node), slots: abbreviate(slotRanges(slots)), slotCount: slots.length };
    const masterEntry = entry && entry.masterId !== '-' ? byId.get(entry.masterId) : undefined;
    const follows = masterEntry ? nameOf(masterEntry) : entry && entry.masterId !== '-' ? entry.masterId.slice(0, 8) : undefined;
    if (!o.reachable) {
      return { ...base, role: 'unreachable', viewRole: entry ? entry.flags.filter((f) => f !== 'myself').join(',') : 'not in cluster view', ...(follows ? { follows } : {}) };
    }
    const info = infos.get(o.node.name)!;
    const role = info.get('role') === 'master' ? 'master' : 'replica';
    const usedMemory = Number(info.get('used_memory'));
    const maxmemory = Number(info.get('maxmemory'));
    const row: NodeRow = { ...base, role, ...(Number.isFinite(usedMemory) ? { usedMemory } : {}), ...(Number.isFinite(maxmemory) ? { maxmemory } : {}) };
    if (role === 'replica') {
      row.link = info.get('master_link_status') ?? 'unknown';
      // Its own INFO says where it replicates from; the cluster view names that node.
      const masterAddr = `${info.get('master_host')}:${info.get('master_port')}`;
      const own = modelNodeOf(nodes, { port: Number(info.get('master_port')), hostname: info.get('master_host') ?? '' });
      row.follows = own?.name ?? follows ?? masterAddr;
      if (row.link !== 'up') problems.push(`replica ${o.node.name} of ${row.follows}: master_link_status is ${row.link}`);
    }
    if (maxmemory > 0 && usedMemory >= MEMORY_WARN_RATIO * maxmemory) {
      problems.push(`${o.node.name} uses ${humanBytes(usedMemory)} of maxmemory ${humanBytes(maxmemory)} (${percent(usedMemory, maxmemory)}); with noeviction it refuses writes when full`);
    }
    return row;
  });

  return { state, seenFrom: reference.node.name, coveredSlots: covered.size, rows, problems };
}

const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;

/** Long slot lists (a broken cluster) stay readable. */
function abbreviate(ranges: string, max = 60): string {
  if (ranges.length <= max) return ranges;
  const cut = ranges.lastIndexOf(',', max);
  return `${ranges.slice(0, cut > 0 ? cut : max)},…`;
}

/** The report `ops redis check` prints. */
export function formatAssessment(a: ClusterAssessment): string[] {
  const memory = (r: NodeRow) =>
    r.usedMemory === undefined ? '-' : r.maxmemory ? `${humanBytes(r.usedMemory)} / ${humanBytes(r.maxmemory)} (${percent(r.usedMemory, r.maxmemory)})` : `${humanBytes(r.usedMemory)} (no maxmemory)`;
  const table = [
    ['node', 'address', 'role', 'follows', 'link', 'slots', 'memory used / max'],
    ...a.rows.map((r) => [r.name, r.address, r.role === 'unreachable' ? (r.viewRole ? `unreachable (${r.viewRole})` : 'unreachable') : r.role, r.follows ?? '-', r.link ?? '-', r.slotCount ? `${r.slots} (${r.slotCount})` : '-', memory(r)]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const lines = [
    `cluster_state: ${a.state}; ${a.coveredSlots}/${CLUSTER_SLOTS} slots served by live masters${a.seenFrom ? ` (slot map as ${a.seenFrom} sees it)` : ''}`,
    ...table.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()),
  ];
  if (a.problems.length === 0) lines.push('ok: every slot served, every master has a replica, every node reachable');
  else lines.push(`NOT OK: ${a.problems.length} problem${a.problems.length === 1 ? '' : 's'}`, ...a.problems.map((p) => `  - ${p}`));
  return lines;
}

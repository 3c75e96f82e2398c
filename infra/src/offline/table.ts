import type { OfflineRun, RegisteredResource } from './harness.js';

/**
 * The resource table `pulumi preview` prints for a new stack: the tree of resources by parent, each
 * with its type token shortened the way the CLI shows it (`docker:index/container:Container` ->
 * `docker:index:Container`), and the summary line.
 */
export function displayType(type: string): string {
  const [pkg, mod, name] = type.split(':');
  if (mod?.startsWith('index/')) return `${pkg}:index:${name}`;
  return type;
}

interface Node {
  resource: RegisteredResource;
  children: Node[];
}

export function resourceTree(run: OfflineRun): Node {
  const stack = run.resources.find((r) => r.type === 'pulumi:pulumi:Stack');
  if (!stack) throw new Error('the run registered no stack resource');
  const nodes = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, { resource: r, children: [] as Node[] }]));
  for (const node of nodes.values()) {
    const p = node.resource.parent;
    if (!p) continue;
    nodes.get(`${p.type}::${p.name}`)?.children.push(node);
  }
  return nodes.get(`${stack.type}::${stack.name}`)!;
}

export function renderPreviewTable(run: OfflineRun): string {
  const rows: [string, string, string][] = [];
  const walk = (node: Node, prefix: string, childPrefix: string) => {
    rows.push([`${prefix}${displayType(node.resource.type)}`, node.resource.name, 'create']);
    node.children.forEach((child, i) => {
      const last = i === node.children.length - 1;
      walk(child, `${childPrefix}${last ? '└─ ' : '├─ '}`, `${childPrefix}${last ? '   ' : '│  '}`);
    });
  };
  walk(resourceTree(run), '', '');
  const typeWidth = Math.max(4, ...rows.map((r) => [...r[0]].length));
  const nameWidth = Math.max(4, ...rows.map((r) => r[1].length));
  const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - [...s].length));
  const lines = [`Previewing update (${run.stack}), offline from the SDK mocks:`, '', `     ${pad('Type', typeWidth)}  ${pad('Name', nameWidth)}  Plan`];
  for (const [type, name, plan] of rows) lines.push(` +   ${pad(type, typeWidth)}  ${pad(name, nameWidth)}  ${plan}`);
  lines.push('', 'Resources:', `    + ${rows.length} to create`);
  return lines.join('\n');
}

/** Resource counts by (display) type, for reports and tests. */
export function countByType(run: OfflineRun): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of run.resources) counts[displayType(r.type)] = (counts[displayType(r.type)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

import { PlatformConfigSchema } from '@numbering/blueprint';
import { stringify } from 'yaml';
import { PROJECT } from './config.js';

/**
 * Pulumi.yaml is generated from the typed platform config (packages/blueprint/src/config.ts), so the
 * CLI type-checks every key (`pulumi config set canary.weight abc` fails before the program runs)
 * with the same defaults the program would apply. `pnpm --filter @numbering/infra pulumi-yaml`
 * rewrites it; infra/test/pulumi-yaml.test.ts fails when it drifts from the schema.
 */

type PulumiType = 'string' | 'integer' | 'boolean';

export interface ProjectConfigDeclaration {
  /** Dotted key as users type it: `pulumi config set canary.weight 30`. */
  key: string;
  type: PulumiType;
  /** Absent = required on every stack. */
  default?: string | number | boolean;
  description: string;
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  anyOf?: { const?: unknown }[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

/** Sections that are not Pulumi settings (`local.*` configures the devstack only). */
const NOT_FOR_PULUMI = new Set(['local']);
/** Keys every stack must set itself: `target` decides what a stack is, a default would hide a forgotten one. */
const REQUIRED = new Set(['target']);

function describe(node: SchemaNode): string {
  const parts: string[] = [];
  if (node.description) parts.push(node.description);
  if (node.anyOf) parts.push(`one of: ${node.anyOf.map((a) => String(a.const)).join(', ')}`);
  const lo = node.minimum ?? node.exclusiveMinimum;
  const hi = node.maximum ?? node.exclusiveMaximum;
  if (lo !== undefined || hi !== undefined) parts.push(`range ${node.exclusiveMinimum !== undefined ? '(' : '['}${lo ?? '-inf'}, ${hi ?? 'inf'}${node.exclusiveMaximum !== undefined ? ')' : ']'}`);
  return parts.join('; ');
}

/** Every settable key of the schema with its Pulumi type and default. */
export function projectConfigDeclarations(): ProjectConfigDeclaration[] {
  const out: ProjectConfigDeclaration[] = [];
  const walk = (node: SchemaNode, path: string[]) => {
    if (node.type === 'object' && node.properties) {
      for (const [k, child] of Object.entries(node.properties)) {
        if (path.length === 0 && NOT_FOR_PULUMI.has(k)) continue;
        walk(child, [...path, k]);
      }
      return;
    }
    const key = path.join('.');
    // Pulumi's project schema has no float type: numbers travel as strings (stack values always do).
    const type: PulumiType = node.type === 'integer' ? 'integer' : node.type === 'boolean' ? 'boolean' : 'string';
    const declaration: ProjectConfigDeclaration = { key, type, description: describe(node) };
    if (!REQUIRED.has(key) && node.default !== undefined) declaration.default = type === 'string' ? String(node.default) : (node.default as number | boolean);
    out.push(declaration);
  };
  walk(PlatformConfigSchema as unknown as SchemaNode, []);
  return out;
}

/**
 * A project config key written as a property path of one segment (`["canary.weight"]`). Pulumi reads
 * project keys as paths, so a bare `canary.weight` would declare `weight` inside an object
 * `canary` (what `config set --path` writes); the bracket form declares the flat key that
 * `pulumi config set canary.weight 30` writes, which is the form this project uses.
 */
export const projectConfigKey = (key: string) => (key.includes('.') ? `["${key}"]` : key);

const HEADER = `# Generated from the typed platform config (packages/blueprint/src/config.ts) by
#   pnpm --filter @numbering/infra pulumi-yaml
# Do not edit by hand; infra/test/pulumi-yaml.test.ts fails when this file drifts from the schema.
#
# Keys are flat and dotted: \`pulumi config set canary.weight 30\` (no --path). In this file they are
# written ["canary.weight"] because Pulumi reads project keys as property paths. Stack files
# (Pulumi.<stack>.yaml) hold only what differs from the defaults below; \`target\` is required.
# Alert receivers are secrets outside this schema: pulumi config set --secret alerting.slackWebhookUrl ...
`;

/** The whole Pulumi.yaml. */
export function renderPulumiYaml(): string {
  const config: Record<string, Record<string, unknown>> = {};
  for (const d of projectConfigDeclarations()) {
    config[projectConfigKey(d.key)] = { type: d.type, ...(d.default !== undefined ? { default: d.default } : {}), description: d.description };
  }
  const project = {
    name: PROJECT,
    description: 'Document-numbering platform: Redis Cluster, MariaDB, monitoring, PostgreSQL HA, canary nginx and the numbering service',
    // The program is ESM TypeScript importing source-only workspace packages: Node runs it through the
    // tsx loader instead of Pulumi's built-in ts-node (see infra/README.md, "How Pulumi runs the program").
    runtime: { name: 'nodejs', options: { typescript: false, nodeargs: '--import tsx', packagemanager: 'pnpm' } },
    main: 'infra/',
    config,
  };
  return `${HEADER}${stringify(project, { lineWidth: 0 })}`;
}

